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

from stream_filter.core.classify.evaluation import matches, predictions
from stream_filter.core.classify.labelled import Labelled
from stream_filter.core.classify.lexicon import default_lexicon
from stream_filter.core.classify.model import ClusterModel, Model, Rule, features, logit
from stream_filter.core.classify.text import tokens
from stream_filter.core.contracts.decision import WEAK_CONFIDENCE

# How each cluster combines model and lexicon when `train` is not given rules. What the model finds
# alone is reviewed, never rejected (clusters.py: it does not name the product), so its threshold
# trades leaks against reviews: chosen on the decision figures of the four labelled sets
# (`stream-filter eval --decisions ... --kfold 5`, docs/classification.md): alone at 0.95/0.7/0.7,
# 3.5% of closed goods approved and 1.7% of the others reviewed; at 0.4/0.3/0.3, 1.9% and 4.6%.
# The crafts model disagrees under 0.1 (at 0.3, 15.4% of closed goods went to review).
RULES = {"crafts": Rule(alone=0.3, with_lexicon=0.1), "textile_fashion": Rule(alone=0.3, with_lexicon=0.0),
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


ALONE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)  # 1.0: the model never finds the cluster alone
WITH_LEXICON = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)  # 0.0: the model never disagrees with the lexicon
MAX_FALSE_REJECTIONS = 0.01  # of the cluster's negatives: a wrong rejection harms a legitimate seller
MAX_REVIEWS = 0.10  # of the negatives sent to a person


@dataclass(frozen=True)
class Chosen:
    rule: Rule
    recall: float  # of the cluster's positives rejected or reviewed, cross-validated
    false_rejections: float  # of its negatives rejected
    reviews: float  # of its negatives reviewed


def choose_rules(rows: Sequence[Labelled], k: int = 5, seed: int = 0) -> dict[str, Chosen]:
    """Per cluster, the rule that finds most of the cluster's rows (rejected or reviewed) while it
    rejects at most 1% of the rows outside it and reviews at most 10%, decided as the worker decides
    (`clusters.model_layer`): a lexicon find the head noun names is rejected, or reviewed when the
    model disagrees; any other lexicon find is reviewed, or dropped when the model disagrees; the model
    alone reviews. Each row's model score comes from a model trained on the other folds (a fold whose
    training rows hold one class of a cluster has none: its rows are left out). Ties go to fewer
    reviews, then to the lower thresholds. With no rule inside the bounds, the one that rejects least."""
    if k < 2:
        raise ValueError(f"choosing rules needs at least 2 folds, not {k}")
    seen: dict[str, list[tuple[bool, int, float]]] = {}  # cluster -> (truth, lexicon: 2 names, 1 finds, 0, score)
    for model, indices in held_out(rows, k, seed):
        fold = [rows[i] for i in indices]
        names = model.rules[0]
        for row, lexicon in zip(fold, named(fold), strict=True):
            scores = dict(zip(names, model.scores_of(tokens(row.title)), strict=True))
            for cluster, truth in row.labels.items():
                if cluster in scores:
                    seen.setdefault(cluster, []).append((truth, lexicon.get(cluster, 0), scores[cluster]))
    chosen = {}
    for cluster, outcomes in sorted(seen.items()):
        rated = [_rated(outcomes, alone, with_lexicon) for alone in ALONE for with_lexicon in WITH_LEXICON]
        feasible = [c for c in rated if c.false_rejections <= MAX_FALSE_REJECTIONS and c.reviews <= MAX_REVIEWS]
        chosen[cluster] = (max(feasible, key=lambda c: (c.recall, -c.reviews, -c.rule.alone, -c.rule.with_lexicon))
                           if feasible else min(rated, key=lambda c: (c.false_rejections, c.reviews)))
    return chosen


def named(rows: Sequence[Labelled]) -> list[dict[str, int]]:
    """Per row, the clusters the lexicon finds from its title: 2 when the evidence names the product
    (over `WEAK_CONFIDENCE`), 1 when it only finds it (reviewed)."""
    return [{cluster: 2 if confidence > WEAK_CONFIDENCE else 1 for cluster, confidence in found.items()}
            for found in matches(rows, None)]


def _rated(outcomes: list[tuple[bool, int, float]], alone: float, with_lexicon: float) -> Chosen:
    """A rule's recall, false rejections and reviews, scores compared as the worker compares them."""
    a, w = logit(alone), logit(with_lexicon)
    found = rejected = reviewed = positives = 0
    for truth, lexicon, z in outcomes:
        outcome = ("reject" if z >= w else "review") if lexicon == 2 else \
            ("review" if z >= w else "") if lexicon == 1 else ("review" if z >= a else "")
        positives += truth
        found += truth and bool(outcome)
        rejected += not truth and outcome == "reject"
        reviewed += not truth and outcome == "review"
    negatives = len(outcomes) - positives
    share = lambda part, whole: round(part / whole, 4) if whole else 0.0  # noqa: E731
    return Chosen(Rule(alone=alone, with_lexicon=with_lexicon), share(found, positives), share(rejected, negatives),
                  share(reviewed, negatives))
