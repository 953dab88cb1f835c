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
class _Tables:
    names: tuple[str, ...]
    biases: tuple[float, ...]
    words: dict[str, tuple[float, ...]]
    pairs: dict[tuple[str, str], tuple[float, ...]]
    prefixes: dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class Model:
    version: str
    clusters: dict[str, ClusterModel]

    @cached_property
    def _tables(self) -> _Tables:
        """Per feature kind, each feature's weights for all clusters at once, keyed by the raw token,
        the pair of tokens (a tuple: no string to build) or the prefix: one lookup per feature."""
        names = list(self.clusters)
        tables: dict[str, dict[str, list[float]]] = {"w": {}, "b": {}, "p": {}}
        for i, name in enumerate(names):
            for feature, weight in self.clusters[name].weights.items():
                kind, _, key = feature.partition(":")
                tables[kind].setdefault(key, [0.0] * len(names))[i] = weight
        words, pairs, prefixes = ({k: tuple(w) for k, w in tables[kind].items()} for kind in ("w", "b", "p"))
        return _Tables(tuple(names), tuple(self.clusters[n].bias for n in names), words,
                       {tuple(k.split("_", 1)): w for k, w in pairs.items()}, prefixes)  # type: ignore[misc]

    def probabilities(self, title: str) -> dict[str, float]:
        return self.probabilities_of(tokens(title))

    def probabilities_of(self, toks: list[str]) -> dict[str, float]:
        """The same sums as over `features_of(toks)` (each distinct feature once), without building
        them: the lookups run in C (`map` over `dict.get`)."""
        t = self._tables
        # dict.fromkeys, not set: the same order in every process (str hashes are salted per process),
        # so the float sums, and the worker's and the offline command's decisions, are identical
        distinct = dict.fromkeys(toks)
        hits = list(filter(None, map(t.words.get, distinct)))
        hits += filter(None, map(t.pairs.get, dict.fromkeys(pairwise(toks))))
        hits += filter(None, map(t.prefixes.get, dict.fromkeys([w[:PREFIX_CHARS] for w in distinct
                                                                 if len(w) > PREFIX_CHARS])))
        sums = list(map(sum, zip(*hits, strict=True))) if hits else [0.0] * len(t.names)
        return {name: 1 / (1 + math.exp(-max(-30.0, min(30.0, b + z))))
                for name, b, z in zip(t.names, t.biases, sums, strict=True)}

    def explain(self, toks: list[str], cluster: str, n: int = 4) -> list[str]:
        """The features of a title's tokens that weighed most for `cluster`: "+tenun", "-printing"."""
        weights = self.clusters[cluster].weights
        # (-|weight|, feature) tuples sort in C, largest weight first, then by name
        parts = sorted([(-abs(w), f, w) for f in dict.fromkeys(features_of(toks)) if (w := weights.get(f)) is not None])
        return [("+" if w > 0 else "-") + f[2:] for _, f, w in parts[:n]]  # "w:tenun" -> "+tenun"

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
