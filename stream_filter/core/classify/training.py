"""Training the learned layer (`model.py`) and measuring it without fooling ourselves.

Logistic regression per cluster (scikit-learn, the `train` extra: training only; the worker scores
with the exported weights in pure Python), on the rows that label that cluster, classes balanced.
`cross_validate` decides every row with a model that never saw it (k-fold), which is what
`stream-filter eval --kfold` reports: a model scored on its own training rows would look perfect.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from stream_filter.core.classify.evaluation import predictions
from stream_filter.core.classify.labelled import Labelled
from stream_filter.core.classify.model import ClusterModel, Model, Rule, features

# How each cluster combines model and lexicon, chosen by 5-fold cross-validation on PRDECT-ID and the
# crafts set (README, Classification): crafts by the model, vetoing weak lexicon hits; fashion by
# either; food mostly by the lexicon, the model adding only confident finds and vetoing only
# near-certain non-food (under 100 labelled food listings do not train a strong model).
RULES = {"crafts": Rule(alone=0.6, with_lexicon=0.2), "textile_fashion": Rule(alone=0.5, with_lexicon=0.0),
         "food_beverage": Rule(alone=0.7, with_lexicon=0.05)}
MIN_WEIGHT = 0.01  # smaller weights are dropped from the exported model (size, not accuracy)


def train(rows: Sequence[Labelled], version: str, c: float = 4.0) -> Model:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    clusters = {}
    for cluster in sorted({name for row in rows for name in row.labels}):
        chosen = [row for row in rows if cluster in row.labels]
        labels = [row.labels[cluster] for row in chosen]
        if len(set(labels)) < 2:
            continue  # one class only: nothing to learn
        vectors = DictVectorizer()
        x = vectors.fit_transform([dict.fromkeys(features(row.title), 1) for row in chosen])
        fitted = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, labels)
        weights = {name: round(float(w), 4) for name, w in zip(vectors.feature_names_, fitted.coef_[0], strict=True)
                   if abs(w) >= MIN_WEIGHT}
        clusters[cluster] = ClusterModel(round(float(fitted.intercept_[0]), 4), weights, RULES.get(cluster, Rule()))
    return Model(version, clusters)


def cross_validate(rows: Sequence[Labelled], k: int = 5, seed: int = 0) -> list[set[str]]:
    """Every row's clusters as the worker would find them (lexicon and model, title only) with a model
    trained on the other k-1 folds: a model is never scored on rows it was trained on."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    fold = {index: position % k for position, index in enumerate(order)}
    predicted: list[set[str]] = [set() for _ in rows]
    for f in range(k):
        model = train([row for i, row in enumerate(rows) if fold[i] != f], f"fold-{f}")
        held_out = [i for i in range(len(rows)) if fold[i] == f]
        for i, found in zip(held_out, predictions([rows[i] for i in held_out], model), strict=True):
            predicted[i] = found
    return predicted
