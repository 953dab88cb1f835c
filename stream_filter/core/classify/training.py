"""Training the learned layer (`model.py`) and measuring it without fooling ourselves.

Logistic regression per cluster (scikit-learn, the `train` extra: training only; the worker scores
with the exported weights in pure Python), on the rows that label that cluster, classes balanced.
`cross_validate` decides every row with a model that never saw it (k-fold), which is what
`stream-filter eval --kfold` reports: a model scored on its own training rows would look perfect.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from stream_filter.core.classify.evaluation import ClusterScore, predictions
from stream_filter.core.classify.labelled import Labelled
from stream_filter.core.classify.lexicon import default_lexicon
from stream_filter.core.classify.model import ClusterModel, Model, Rule, features, logit
from stream_filter.core.classify.text import tokens

# How each cluster combines model and lexicon when `train` is not given rules. What the model finds
# alone is reviewed, never rejected (clusters.py: it does not name the product), so its threshold
# trades leaks against reviews: chosen on the decision figures of the four labelled sets
# (`stream-filter eval --decisions ... --kfold 5`, docs/classification.md): alone at 0.95/0.7/0.7,
# 3.5% of closed goods approved and 1.7% of the others reviewed; at 0.4/0.3/0.3, 1.9% and 4.6%.
RULES = {"crafts": Rule(alone=0.3, with_lexicon=0.3), "textile_fashion": Rule(alone=0.3, with_lexicon=0.0),
         "food_beverage": Rule(alone=0.4, with_lexicon=0.1)}
MIN_WEIGHT = 0.05  # smaller weights are dropped from the exported model (size, not accuracy)


def train(rows: Sequence[Labelled], version: str, c: float = 4.0, rules: dict[str, Rule] | None = None,
          generic: frozenset[str] | None = None) -> Model:
    """A model per cluster the rows label both ways, combined with the lexicon by `rules` (default
    `RULES`; `choose_rules` fits them to the rows); generic words (default: the lexicon's word
    classes) are features only in pairs."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    generic = default_lexicon().generic if generic is None else generic
    clusters = {}
    for cluster in sorted({name for row in rows for name in row.labels}):
        chosen = [row for row in rows if cluster in row.labels]
        labels = [row.labels[cluster] for row in chosen]
        if len(set(labels)) < 2:
            continue  # one class only: nothing to learn
        vectors = DictVectorizer()
        x = vectors.fit_transform([Counter(features(row.title, generic)) for row in chosen])
        fitted = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, labels)
        weights = {name: round(float(w), 4) for name, w in zip(vectors.feature_names_, fitted.coef_[0], strict=True)
                   if abs(w) >= MIN_WEIGHT}
        clusters[cluster] = ClusterModel(round(float(fitted.intercept_[0]), 4), weights,
                                        (rules or RULES).get(cluster, Rule()))
    return Model(version, clusters, generic=generic)


def _folds(count: int, k: int, seed: int) -> list[int]:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    fold = [0] * count
    for position, index in enumerate(order):
        fold[index] = position % k
    return fold


def _category_folds(rows: Sequence[Labelled], k: int, seed: int) -> list[int]:
    groups = sorted({row.top or row.category for row in rows})
    random.Random(seed).shuffle(groups)
    fold_of = {group: position % k for position, group in enumerate(groups)}
    return [fold_of[row.top or row.category] for row in rows]


def held_out(rows: Sequence[Labelled], k: int, seed: int, by_category: bool = False
             ) -> Iterator[tuple[Model, list[int]]]:
    """Per fold, a model trained on the other k-1 folds and the indices of the fold's rows: a model
    is never scored on rows it was trained on. `by_category`: whole top-level categories per fold, so
    a category's rows are decided by a model that never saw the category."""
    fold = _category_folds(rows, k, seed) if by_category else _folds(len(rows), k, seed)
    for f in range(k):
        yield (train([row for i, row in enumerate(rows) if fold[i] != f], f"fold-{f}"),
               [i for i in range(len(rows)) if fold[i] == f])


def cross_validate(rows: Sequence[Labelled], k: int = 5, seed: int = 0) -> list[set[str]]:
    """Every row's clusters as the worker would find them (lexicon and model, title only) with a model
    that never saw it."""
    predicted: list[set[str]] = [set() for _ in rows]
    for model, indices in held_out(rows, k, seed):
        for i, found in zip(indices, predictions([rows[i] for i in indices], model), strict=True):
            predicted[i] = found
    return predicted


ALONE = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)  # 1.0: the model never finds the cluster alone
WITH_LEXICON = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)  # 0.0: the model never vetoes the lexicon


@dataclass(frozen=True)
class Chosen:
    rule: Rule
    f1: float  # cross-validated, over every row that labels the cluster


def choose_rules(rows: Sequence[Labelled], k: int = 5, seed: int = 0) -> dict[str, Chosen]:
    """Per cluster, the rule with the best cross-validated F1 over `rows` (each row's model score
    from a model trained on the other folds, and the lexicon's verdict on its title). A fold whose
    training rows hold one class only of a cluster has no model for it: its rows are left out.
    Ties go to the rule that finds more (lower `alone`, then lower `with_lexicon`): a plateau of equal
    F1 on the labelled rows says nothing of precision against recall, and misses are what a catalogue
    rule cannot see."""
    if k < 2:
        raise ValueError(f"choosing rules needs at least 2 folds, not {k}")
    seen: dict[str, list[tuple[bool, bool, float]]] = {}  # cluster -> (truth, lexicon found it, score)
    for model, indices in held_out(rows, k, seed):
        fold = [rows[i] for i in indices]
        names = model.rules[0]
        for row, lexicon in zip(fold, predictions(fold, None), strict=True):
            scores = dict(zip(names, model.scores_of(tokens(row.title)), strict=True))
            for cluster, truth in row.labels.items():
                if cluster in scores:
                    seen.setdefault(cluster, []).append((truth, cluster in lexicon, scores[cluster]))
    chosen = {}
    for cluster, outcomes in sorted(seen.items()):
        rated = [(_f1(outcomes, logit(alone), logit(with_lexicon)), -alone, -with_lexicon)
                 for alone in ALONE for with_lexicon in WITH_LEXICON]
        f1, minus_alone, minus_with_lexicon = max(rated)
        chosen[cluster] = Chosen(Rule(alone=-minus_alone, with_lexicon=-minus_with_lexicon), round(f1, 4))
    return chosen


def _f1(outcomes: list[tuple[bool, bool, float]], alone: float, with_lexicon: float) -> float:
    """F1 of a rule given as scores, compared as the worker compares them (`clusters.model_layer`)."""
    score = ClusterScore()
    for truth, lexicon, z in outcomes:
        score.add(truth, z >= alone or (lexicon and z >= with_lexicon))
    return score.f1
