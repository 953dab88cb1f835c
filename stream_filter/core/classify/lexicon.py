"""The cluster classifier's data: HS table, category words and the bilingual lexicon.

Why data files: ops extend them without code changes (one line per term or code), and tests can
load a different set. Everything is read once into plain dicts; lookups are O(1) per n-gram, so the
cost per listing does not grow with the number of terms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from stream_filter.core.classify.text import normalise, phrase_index, short_normalise

NONE = "-"  # "explicitly in no cluster"
MIXED = "mixed"  # a category that holds goods of a cluster and others: neither votes nor vetoes
ALL = "*"  # a term that weighs against every cluster
# The files a lexicon is read from, in the order `classifier.data_digest` hashes them.
DATA_FILES = ("lexicon.tsv", "hs_clusters.tsv", "category_map.tsv", "word_classes.tsv", "category_paths.tsv")


@dataclass(frozen=True)
class Lexicon:
    terms: dict[str, dict[str, float]]  # phrase -> {cluster: weight}, clusters expanded for ALL
    term_index: dict[str, int]  # first token -> longest phrase (see text.find_phrases)
    hs_prefixes: dict[str, str]  # digit prefix -> cluster or NONE
    category_words: dict[str, dict[str, str]]  # phrase -> {marketplace or "": cluster or NONE}
    category_index: dict[str, int]
    clusters: tuple[str, ...]
    generic: frozenset[str] = frozenset()  # words of the generic classes (word_classes.tsv): never alone
    # marketplace -> normalised path ("level 1" or "level 1 > level 2") -> cluster, NONE or MIXED
    category_paths: dict[str, dict[str, str]] = field(default_factory=dict)
    # phrases that name the product's cluster wherever they stand in the title, as a head noun does:
    # how the goods were made ("ukir tangan", "hand woven"), a 4th column `names` in lexicon.tsv
    naming: frozenset[str] = frozenset()


def _rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def path_key(levels: Iterable[str]) -> str:
    """A category path as the tree file keys it: each level's words, lower case, joined by " > "."""
    return " > ".join(map(short_normalise, levels))


def parse_lexicon(lexicon_tsv: str, hs_tsv: str, category_tsv: str, classes_tsv: str = "",
                  paths_tsv: str = "") -> Lexicon:
    terms: dict[str, dict[str, float]] = defaultdict(dict)
    naming = set()
    for row in _rows(lexicon_tsv):
        term, cluster, weight = row[0], row[1].strip(), float(row[2])
        terms[normalise(term)][cluster] = weight
        if len(row) > 3 and row[3].strip() == "names":
            naming.add(normalise(term))
    hs = {row[0].strip(): row[1].strip() for row in _rows(hs_tsv)}
    categories: dict[str, dict[str, str]] = defaultdict(dict)
    for row in _rows(category_tsv):
        categories[normalise(row[1])][row[0].strip().lower()] = row[2].strip()
    named = {c for w in terms.values() for c in w} | set(hs.values())
    named |= {c for by_market in categories.values() for c in by_market.values()}
    clusters = tuple(sorted(named - {NONE, ALL}))
    # Expand ALL once here, so matching never loops over clusters per listing.
    expanded = {t: _expand(w, clusters) for t, w in terms.items()}
    return Lexicon(
        terms=expanded,
        term_index=phrase_index(expanded),
        hs_prefixes=hs,
        category_words=dict(categories),
        category_index=phrase_index(categories),
        clusters=clusters,
        generic=frozenset(normalise(row[0]) for row in _rows(classes_tsv)),
        category_paths=_paths(paths_tsv),
        naming=frozenset(naming),
    )


def _paths(paths_tsv: str) -> dict[str, dict[str, str]]:
    trees: dict[str, dict[str, str]] = defaultdict(dict)
    for market, path, cluster in _rows(paths_tsv):
        trees[market.strip().lower()][path_key(path.split(">"))] = cluster.strip()
    return dict(trees)


def _expand(weights: dict[str, float], clusters: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for cluster, w in weights.items():
        for target in clusters if cluster == ALL else (cluster,):
            out[target] = out.get(target, 0.0) + w
    return out


def load_lexicon(directory: Path | None = None) -> Lexicon:
    """Read the data files (`DATA_FILES`) from `directory`, or the packaged defaults."""
    base = directory or resources.files("stream_filter.core.classify") / "data"
    read = lambda name: (base / name).read_text(encoding="utf-8")  # noqa: E731
    return parse_lexicon(*(read(name) for name in DATA_FILES))


@cache
def default_lexicon() -> Lexicon:
    return load_lexicon()
