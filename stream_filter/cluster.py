"""Product clusters of a listing, in three layers, highest precision first.

1. HS code: a chapter/heading table; the longest prefix wins. Customs codes are the most precise
   signal when present.
2. Category path: the marketplace's own category names mapped by words; a category known to be
   outside every cluster (computers, kitchen) vetoes the lexicon's guess.
3. Lexicon: weighted Indonesian/English terms over title, brand and description. Product nouns of
   other domains and context phrases ("mesin kopi", "garpu makan") weigh against a cluster, so a
   word like "kopi" or "batik" alone does not decide.

Multi-label: every cluster any layer finds is returned, with the layers that found it as evidence.
When layers disagree the evidence says so and the confidence drops.
"""

from __future__ import annotations

from collections import defaultdict

from stream_filter.decision import ClusterMatch
from stream_filter.lexicon import ALL, NONE, Lexicon, default_lexicon
from stream_filter.listing import ListingEvent
from stream_filter.text import ngrams, normalise

THRESHOLD = 1.0
TITLE_WEIGHT, VARIANT_WEIGHT, DESCRIPTION_WEIGHT = 1.0, 0.3, 0.35
HEAD_BOOST = 2.0  # the first product term of a title is its head noun ("Tas Ransel Laptop" is a bag)
DOMINANCE = 0.5  # a cluster scoring under half the best one is noise from the other domain's words
_VARIANT_SEPARATOR = " - "  # marketplaces append the chosen variant: "Sepatu Sneakers - Candy, 38"
_VARIANT_CHARS = 40
_DESCRIPTION_CHARS = 600  # the start of a description says what the item is; the rest is boilerplate


def hs_layer(event: ListingEvent, lex: Lexicon) -> tuple[str, str] | None:
    digits = event.hs_digits
    for n in range(len(digits), 1, -1):
        cluster = lex.hs_prefixes.get(digits[:n])
        if cluster is not None:
            return cluster, digits[:n]
    return None


def category_layer(event: ListingEvent, lex: Lexicon) -> tuple[str, str] | None:
    """The cluster of the deepest path element that names one, or NONE for a known outside category."""
    market = (event.marketplace or "").lower()
    for element in reversed(event.category_path):
        for _, _, phrase in ngrams(normalise(element).split(), 3):
            for key in ((market, phrase), ("", phrase)):
                if key in lex.category_words:
                    return lex.category_words[key], element
    return None


def lexicon_scores(text: str, lex: Lexicon, weight: float, scores: dict[str, float],
                   hits: dict[str, list[str]], seen: set[str], head: bool = False) -> None:
    toks = normalise(text).split()
    covered = -1
    boost = HEAD_BOOST if head else 1.0
    for start, n, phrase in ngrams(toks, lex.max_words):
        if start <= covered:
            continue
        entry = lex.terms.get(phrase)
        if entry is None:
            continue
        covered = start + n - 1
        if phrase in seen:
            continue
        seen.add(phrase)
        if boost != 1.0 and all(w == 0 for w in entry.values()):
            continue
        for cluster, w in entry.items():
            targets = lex.clusters if cluster == ALL else (cluster,)
            for target in targets:
                scores[target] += w * weight * boost
                hits[target].append(f"{'+' if w > 0 else '-'}{phrase}")
        boost = 1.0


def lexicon_layer(event: ListingEvent, lex: Lexicon) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = defaultdict(float)
    hits: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    title, variant = split_variant(event.title or "")
    for text, weight, head in ((title, TITLE_WEIGHT, True), (event.brand, TITLE_WEIGHT, False),
                               (variant, VARIANT_WEIGHT, False),
                               ((event.description or "")[:_DESCRIPTION_CHARS], DESCRIPTION_WEIGHT, False)):
        if text:
            lexicon_scores(text, lex, weight, scores, hits, seen, head)
    best = max(scores.values(), default=0.0)
    for cluster in [c for c, s in scores.items() if s < DOMINANCE * best]:
        scores[cluster] = min(scores[cluster], 0.0)
    return scores, hits


def split_variant(title: str) -> tuple[str, str]:
    """("Sepatu Sneakers Wanita", "Candy, 38") from "Sepatu Sneakers Wanita - Candy, 38"."""
    head, sep, tail = title.rpartition(_VARIANT_SEPARATOR)
    if sep and head and len(tail) <= _VARIANT_CHARS:
        return head, tail
    return title, ""


def classify_clusters(event: ListingEvent, lex: Lexicon | None = None) -> list[ClusterMatch]:
    lex = lex or default_lexicon()
    found: dict[str, tuple[float, list[str]]] = {}
    hs = hs_layer(event, lex)
    category = category_layer(event, lex)
    scores, hits = lexicon_layer(event, lex)
    if hs and hs[0] != NONE:
        found[hs[0]] = (0.97, [f"hs_code {hs[1]}* -> {hs[0]}"])
    if category and category[0] != NONE:
        conf, ev = found.get(category[0], (0.85, []))
        found[category[0]] = (max(conf, 0.85), [*ev, f"category '{category[1]}' -> {category[0]}"])
    for cluster, score in scores.items():
        if score < THRESHOLD:
            continue
        terms = ", ".join(hits[cluster][:6])
        lexical = min(0.9, 0.55 + 0.1 * score)
        if cluster in found:
            conf, ev = found[cluster]
            found[cluster] = (min(0.99, conf + 0.02), [*ev, f"lexicon agrees ({terms})"])
            continue
        ev = [f"lexicon score {score:.1f} ({terms})"]
        for name, layer in (("hs_code", hs), ("category", category)):
            if layer is not None:
                ev.append(f"disagreement: {name} '{layer[1]}' says {layer[0] if layer[0] != NONE else 'no cluster'}")
                lexical *= 0.6
        found[cluster] = (lexical, ev)
    return [ClusterMatch(cluster=c, confidence=round(conf, 2), evidence=ev)
            for c, (conf, ev) in sorted(found.items())]
