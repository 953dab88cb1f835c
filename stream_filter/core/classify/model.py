"""The learned layer: a linear model over the title's words, word pairs and word prefixes.

Why: the lexicon has plateaued. What it misses are brands, phrasings and regional product names no
term list anticipates, and what it wrongly catches are words that mean a cluster only in some
company ("tenun" on a printed shirt, "coklat" as a colour). A model trained on labelled listings
weighs every word by the company it keeps. It sits beside the lexicon, not instead of it: per
cluster the model file says how the two combine (`Rule`), chosen by cross-validation
(`stream-filter eval --kfold`). `training.py` trains one; this module only scores, in pure Python:
a title is a few dozen dictionary lookups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from itertools import pairwise
from pathlib import Path

import orjson

from stream_filter.core.classify.text import tokens

FEATURES_VERSION = 1
PREFIX_CHARS = 5  # "anyaman", "anyam" and "anyaman2" share "anyam"


def features(title: str) -> list[str]:
    """Words, adjacent word pairs, and the prefixes of longer words (morphology: ukir, ukiran)."""
    return features_of(tokens(title))


def features_of(toks: list[str]) -> list[str]:
    out = ["w:" + t for t in toks]
    out += ["b:" + a + "_" + b for a, b in pairwise(toks)]
    out += ["p:" + t[:PREFIX_CHARS] for t in toks if len(t) > PREFIX_CHARS]
    return out


@dataclass(frozen=True)
class Rule:
    """A cluster is found when the model's probability reaches `alone`, or when the lexicon finds it
    and the probability reaches `with_lexicon` (below it, the model vetoes the lexicon)."""

    alone: float = 0.5
    with_lexicon: float = 0.0


@dataclass(frozen=True)
class ClusterModel:
    bias: float
    weights: dict[str, float]
    rule: Rule


@dataclass(frozen=True)
class Model:
    version: str
    clusters: dict[str, ClusterModel]

    @cached_property
    def _tables(self) -> tuple[list[str], list[float], dict[str, dict[str, tuple[float, ...]]]]:
        """Per feature kind (w, b, p), each feature's weights for all clusters at once, keyed by the
        raw token, pair ("a b") or prefix: one lookup per feature, and no feature strings to build."""
        names = list(self.clusters)
        tables: dict[str, dict[str, list[float]]] = {"w": {}, "b": {}, "p": {}}
        for i, name in enumerate(names):
            for feature, weight in self.clusters[name].weights.items():
                kind, _, key = feature.partition(":")
                row = tables[kind].setdefault(key.replace("_", " ") if kind == "b" else key, [0.0] * len(names))
                row[i] = weight
        frozen = {kind: {k: tuple(w) for k, w in table.items()} for kind, table in tables.items()}
        return names, [self.clusters[n].bias for n in names], frozen

    def probabilities(self, title: str) -> dict[str, float]:
        return self.probabilities_of(tokens(title))

    def probabilities_of(self, toks: list[str]) -> dict[str, float]:
        """The same sums as over `features_of(toks)` (each distinct feature once), without building them."""
        names, biases, tables = self._tables
        words, pairs, prefixes = tables["w"], tables["b"], tables["p"]
        # dict.fromkeys, not set: the same order in every process (str hashes are salted per process),
        # so the float sums, and the worker's and the offline command's decisions, are identical
        distinct = dict.fromkeys(toks)
        hits = [w for t in distinct if (w := words.get(t)) is not None]
        hits += [w for pair in dict.fromkeys(a + " " + b for a, b in pairwise(toks))
                 if (w := pairs.get(pair)) is not None]
        hits += [w for prefix in dict.fromkeys(t[:PREFIX_CHARS] for t in distinct if len(t) > PREFIX_CHARS)
                 if (w := prefixes.get(prefix)) is not None]
        sums = [sum(column) for column in zip(*hits, strict=True)] if hits else [0.0] * len(names)
        return {name: 1 / (1 + math.exp(-max(-30.0, min(30.0, b + z)))) for name, b, z in zip(names, biases, sums,
                                                                                                strict=True)}

    def explain(self, toks: list[str], cluster: str, n: int = 4) -> list[str]:
        """The features of a title's tokens that weighed most for `cluster`: "+tenun", "-printing"."""
        weights = self.clusters[cluster].weights
        parts = [(f, weights[f]) for f in dict.fromkeys(features_of(toks)) if f in weights]
        ranked = sorted(parts, key=lambda p: (-abs(p[1]), p[0]))
        return [("+" if w > 0 else "-") + f.split(":", 1)[1] for f, w in ranked[:n]]

    def to_json(self) -> bytes:
        return orjson.dumps({"features_version": FEATURES_VERSION, "version": self.version, "clusters": {
            name: {"bias": c.bias, "rule": {"alone": c.rule.alone, "with_lexicon": c.rule.with_lexicon},
                   "weights": dict(sorted(c.weights.items()))} for name, c in self.clusters.items()}},
            option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Model:
        raw = orjson.loads(data)
        if raw.get("features_version") != FEATURES_VERSION:
            raise ValueError(f"model features version {raw.get('features_version')}, "
                             f"this code reads {FEATURES_VERSION}")
        return cls(version=str(raw["version"]), clusters={
            name: ClusterModel(bias=float(c["bias"]), weights={k: float(v) for k, v in c["weights"].items()},
                               rule=Rule(**c["rule"])) for name, c in raw["clusters"].items()})


SHIPPED = "shipped"
_configured = [SHIPPED]


def use_model(name: str) -> None:
    """Which model `default_model` gives (the worker sets STREAM_FILTER_CLUSTER_MODEL at start)."""
    _configured[0] = name


def default_model() -> Model | None:
    return load_model(_configured[0])


@cache
def load_model(name: str = SHIPPED) -> Model | None:
    """`shipped` (the model in the package), `none`, or a model file's path."""
    if name == "none":
        return None
    if name == SHIPPED:
        data = (resources.files("stream_filter.core.classify") / "data" / "cluster_model.json").read_bytes()
    else:
        data = Path(name).read_bytes()
    return Model.from_json(data)
