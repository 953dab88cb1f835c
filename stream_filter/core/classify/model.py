"""The learned layer: a linear model over the title's words, word pairs and word prefixes.

Why: the lexicon has plateaued. What it misses are brands, phrasings and regional product names no
term list anticipates, and what it wrongly catches are words that mean a cluster only in some
company ("tenun" on a printed shirt, "coklat" as a colour). A model trained on labelled listings
weighs every word by the company it keeps. It sits beside the lexicon, not instead of it: per
cluster the model file says how the two combine (`Rule`), chosen by cross-validation
(`stream-filter train --choose-rules`). `training.py` trains one; this module only scores, in pure
Python: a title is a few dozen dictionary lookups.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from itertools import pairwise
from pathlib import Path

import orjson

from stream_filter.core.classify.memo import Memo
from stream_filter.core.classify.text import tokens

# 3: generic words (gender and age, sizes, packaging, marketing: word_classes.tsv) only in pairs;
# 2: a prefix counts once per distinct word that has it (1: once per title)
FEATURES_VERSION = 3
PREFIX_CHARS = 5  # "anyaman", "anyam" and "anyaman2" share "anyam"


def features(title: str, generic: frozenset[str] = frozenset()) -> list[str]:
    """Words, adjacent word pairs, and the prefixes of longer words (morphology: ukir, ukiran)."""
    return features_of(tokens(title), generic)


def features_of(toks: list[str], generic: frozenset[str] = frozenset()) -> list[str]:
    """Each distinct word, each distinct pair, and each distinct word's prefix (a prefix two words
    share appears twice). Distinct: a title that repeats its words for search ("Sarung Tangan ...
    Sarung Tangan") says nothing more. A generic word ("pria", "gram", "isi", "original") is a
    feature only in a pair with a word that is not: alone it said "fashion" of shavers and perfume.
    The model's inputs are these counts, so that a word's weight, its own and its prefix's, is one
    number the scorer looks up once."""
    distinct = [t for t in dict.fromkeys(toks) if t not in generic]
    out = ["w:" + t for t in distinct]
    out += ["b:" + a + "_" + b for a, b in dict.fromkeys(pairwise(toks)) if a not in generic or b not in generic]
    out += ["p:" + t[:PREFIX_CHARS] for t in distinct if len(t) > PREFIX_CHARS]
    return out


@dataclass(frozen=True)
class Rule:
    """A cluster is found when the model's probability reaches `alone`, or when the lexicon finds it
    and the probability reaches `with_lexicon` (below it, the model vetoes the lexicon)."""

    alone: float = 0.5
    with_lexicon: float = 0.0


def logit(p: float) -> float:
    """The score at which the model's probability is `p` (rules compare scores: no exp per title)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p / (1 - p))


def probability(z: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class ClusterModel:
    bias: float
    weights: dict[str, float]
    rule: Rule


def _folded(own: dict[str, tuple[float, ...]], prefixes: dict[str, tuple[float, ...]], generic: frozenset[str]
            ) -> Callable[[str], tuple[float, ...] | None]:
    """A word's weights for every cluster (its own plus its prefix's), or None when it weighs nothing
    (a generic word weighs only in its pairs)."""
    def weights(word: str) -> tuple[float, ...] | None:
        if word in generic:
            return None
        mine = own.get(word)
        prefix = prefixes.get(word[:PREFIX_CHARS]) if len(word) > PREFIX_CHARS else None
        return mine if prefix is None else prefix if mine is None else tuple(map(sum, zip(mine, prefix, strict=True)))
    return weights


@dataclass(frozen=True)
class _Tables:
    names: tuple[str, ...]
    biases: tuple[float, ...]
    words: Memo[tuple[float, ...] | None]  # a word's folded weights, computed on first sight
    pairs: dict[tuple[str, str], tuple[float, ...]]
    alone: tuple[float, ...]  # the rules' probabilities as scores
    with_lexicon: tuple[float, ...]


@dataclass(frozen=True)
class Model:
    version: str
    clusters: dict[str, ClusterModel]
    # the labelled files it was trained on, as (path as given to `train`, sha256 of the file's bytes):
    # so anyone can rebuild it byte for byte, and a test can tell when the data moved on without it
    trained_on: tuple[tuple[str, str], ...] = ()
    generic: frozenset[str] = frozenset()  # the generic words it was trained with (features_of)

    @cached_property
    def _tables(self) -> _Tables:
        """Per feature kind, each feature's weights for all clusters at once, keyed by the word (its
        prefix folded in) or the pair of words (a tuple: no string to build): one lookup per feature."""
        names = list(self.clusters)
        tables: dict[str, dict[str, list[float]]] = {"w": {}, "b": {}, "p": {}}
        for i, name in enumerate(names):
            for feature, weight in self.clusters[name].weights.items():
                kind, _, key = feature.partition(":")
                tables[kind].setdefault(key, [0.0] * len(names))[i] = weight
        words, pairs, prefixes = ({k: tuple(w) for k, w in tables[kind].items()} for kind in ("w", "b", "p"))
        rules = [self.clusters[n].rule for n in names]
        return _Tables(tuple(names), tuple(self.clusters[n].bias for n in names),
                       Memo(_folded(words, prefixes, self.generic)),
                       {tuple(k.split("_", 1)): w for k, w in pairs.items()},  # type: ignore[misc]
                       tuple(logit(r.alone) for r in rules), tuple(logit(r.with_lexicon) for r in rules))

    def probabilities(self, title: str) -> dict[str, float]:
        return self.probabilities_of(tokens(title))

    def probabilities_of(self, toks: list[str]) -> dict[str, float]:
        return {name: probability(z) for name, z in zip(self._tables.names, self.scores_of(toks), strict=True)}

    def scores_of(self, toks: list[str]) -> list[float]:
        """Each cluster's score (log-odds), in `names` order: the same sums as over `features_of(toks)`,
        without building them; the lookups run in C (`map` over the tables' `__getitem__`/`get`)."""
        t = self._tables
        # dict.fromkeys, not set: the same order in every process (str hashes are salted per process),
        # so the float sums, and the worker's and the offline command's decisions, are identical
        hits = list(filter(None, map(t.words.__getitem__, dict.fromkeys(toks))))
        hits += filter(None, map(t.pairs.get, dict.fromkeys(pairwise(toks))))
        if not hits:
            return list(t.biases)
        return list(map(sum, zip(t.biases, *hits, strict=True)))

    @property
    def rules(self) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
        """The cluster names in `scores_of` order, and their rules as scores: the score at which the
        model finds a cluster alone, and the score under which it vetoes a lexicon hit."""
        t = self._tables
        return t.names, t.alone, t.with_lexicon

    def explain(self, toks: list[str], cluster: str, n: int = 4) -> list[str]:
        """The features of a title's tokens that weighed most for `cluster`: "+tenun", "-printing".
        Built from `features_of` (one definition of a feature): it runs only for a cluster the model
        finds alone, not for every title."""
        weights = self.clusters[cluster].weights
        # (-|weight|, feature) tuples sort in C, largest weight first, then by name
        parts = sorted([(-abs(w), f, w) for f in dict.fromkeys(features_of(toks, self.generic))
                        if (w := weights.get(f)) is not None])
        return [("+" if w > 0 else "-") + f[2:] for _, f, w in parts[:n]]  # "w:tenun" -> "+tenun"

    def to_json(self) -> bytes:
        trained_on = [{"file": path, "sha256": digest} for path, digest in self.trained_on]
        return orjson.dumps({"features_version": FEATURES_VERSION, "version": self.version,
                             **({"trained_on": trained_on} if trained_on else {}),
                             **({"generic": sorted(self.generic)} if self.generic else {}), "clusters": {
            name: {"bias": c.bias, "rule": {"alone": c.rule.alone, "with_lexicon": c.rule.with_lexicon},
                   "weights": dict(sorted(c.weights.items()))} for name, c in self.clusters.items()}},
            option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Model:
        raw = orjson.loads(data)
        if raw.get("features_version") != FEATURES_VERSION:
            raise ValueError(f"model features version {raw.get('features_version')}, this code reads "
                             f"{FEATURES_VERSION}: retrain it with `stream-filter train`")
        return cls(version=str(raw["version"]), clusters={
            name: ClusterModel(bias=float(c["bias"]), weights={k: float(v) for k, v in c["weights"].items()},
                               rule=Rule(**c["rule"])) for name, c in raw["clusters"].items()},
            trained_on=tuple((str(f["file"]), str(f["sha256"])) for f in raw.get("trained_on", ())),
            generic=frozenset(str(w) for w in raw.get("generic", ())))


SHIPPED = "shipped"
_configured = [SHIPPED]


def use_model(name: str) -> None:
    """Which model `default_model` gives (the worker sets STREAM_FILTER_CLUSTER_MODEL at start)."""
    _configured[0] = name


def configured_model() -> str:
    return _configured[0]


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
