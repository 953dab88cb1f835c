"""Product clusters of a listing, in three layers, highest precision first.

1. HS code: a chapter/heading table; the longest prefix wins. Customs codes are the most precise
   signal when present.
2. Category path: the marketplace's own category names mapped by words; a category known to be
   outside every cluster (computers, kitchen) vetoes the lexicon's guess.
3. Lexicon: weighted Indonesian/English terms over title, brand and description. Product nouns of
   other domains and context phrases ("mesin kopi", "garpu makan") weigh against a cluster, so a
   word like "kopi" or "batik" alone does not decide.
4. Model (`model.py`): a linear model over the title's words, trained on labelled listings. Per
   cluster its rule says whether it may find a cluster alone and when it vetoes a lexicon-only hit;
   it never overrides the HS code or the category.

Multi-label: every cluster any layer finds is returned, with the layers that found it as evidence.
When layers disagree the evidence says so and the confidence drops.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream_filter.core.classify.lexicon import MIXED, NONE, Lexicon, default_lexicon, path_key
from stream_filter.core.classify.model import Model, default_model, probability
from stream_filter.core.classify.text import find_phrases, short_tokens, tokens
from stream_filter.core.contracts.decision import WEAK_CONFIDENCE, ClusterMatch
from stream_filter.core.contracts.listing import ListingEvent

THRESHOLD = 1.0
TITLE_WEIGHT, VARIANT_WEIGHT, DESCRIPTION_WEIGHT = 1.0, 0.3, 0.35
HEAD_BOOST = 2.0  # the first product term of a title is its head noun ("Tas Ransel Laptop" is a bag)
DOMINANCE = 0.5  # a cluster scoring under half the best one is noise from the other domain's words
_VARIANT_SEPARATOR = " - "  # marketplaces append the chosen variant: "Sepatu Sneakers - Candy, 38"
_VARIANT_CHARS = 40
_NO_HEAD: dict[str, float] = {}  # a title with no head noun in the lexicon
_DESCRIPTION_CHARS = 600  # the start of a description says what the item is; the rest is boilerplate


def hs_layer(event: ListingEvent, lex: Lexicon) -> tuple[str, str] | None:
    digits = event.hs_digits
    for n in range(len(digits), 1, -1):
        cluster = lex.hs_prefixes.get(digits[:n])
        if cluster is not None:
            return cluster, digits[:n]
    return None


def category_layer(event: ListingEvent, lex: Lexicon) -> tuple[str, str] | None:
    """The cluster of the listing's category, NONE for a category outside every cluster, or None.
    A marketplace with a tree (category_paths.tsv) is looked up by path, level 2 then level 1; a mixed
    or unknown path says nothing (no word in its names decides: "Perawatan Pakaian" is laundry care).
    Other marketplaces: the deepest path element whose words name a cluster (category_map.tsv)."""
    market = (event.marketplace or "").lower()
    tree = lex.category_paths.get(market)
    if tree is not None:
        for depth in (2, 1):
            if len(event.category_path) >= depth:
                found = tree.get(path_key(event.category_path[:depth]))
                if found is not None:
                    return None if found == MIXED else (found, " > ".join(event.category_path[:depth]))
        return None
    for element in reversed(event.category_path):
        toks = short_tokens(element)
        for i, tok in enumerate(toks):
            for n in range(min(lex.category_index.get(tok, 0), len(toks) - i), 0, -1):
                by_market = lex.category_words.get(" ".join(toks[i : i + n]), {})
                cluster = by_market.get(market) or by_market.get("")  # marketplace-specific line first
                if cluster is not None:
                    return cluster, element
    return None


def lexicon_layer(event: ListingEvent, lex: Lexicon, title_tokens: list[str] | None = None,
                  parts: tuple[str, str] | None = None
                  ) -> tuple[dict[str, float], list[tuple[str, dict[str, float]]], dict[str, float]]:
    """Over title, brand, variant and description: per-cluster scores, the distinct terms matched, and
    the weights of the title's head noun (the clusters it weighs for are the ones it names).
    `title_tokens`, `parts`: the title's tokens (without its variant) and `split_variant` of the title,
    when the caller has them. Generic words
    (`lex.generic`: gender and age, sizes and units, packaging, marketing, pattern) add their weight
    only to a cluster a product term names, and are never the head noun. A naming phrase (how the
    goods were made: `lex.naming`) names its cluster as the head noun does, unless the head noun
    weighs against that cluster."""
    scores: dict[str, float] = {}
    paired: dict[str, float] = {}  # the generic words' weights, kept apart until a product term pairs them
    matched: list[tuple[str, dict[str, float]]] = []
    seen: set[str] = set()
    head: dict[str, float] = _NO_HEAD
    making: dict[str, float] = {}  # clusters a naming phrase of the title names (lex.naming)
    title, variant = parts if parts is not None else split_variant(event.title or "")
    description = (event.description or "")[:_DESCRIPTION_CHARS]
    for text, weight in ((title, TITLE_WEIGHT), (event.brand, TITLE_WEIGHT), (variant, VARIANT_WEIGHT),
                         (description, DESCRIPTION_WEIGHT)):
        if not text:
            continue
        factor = weight * HEAD_BOOST if text is title else weight
        toks: list[str] | tuple[str, ...]
        if text is title:
            toks = title_tokens if title_tokens is not None else tokens(text)
        else:
            toks = tokens(text) if text is description else short_tokens(text)
        for _, phrase, entry in find_phrases(toks, lex.term_index, lex.terms):
            if phrase in seen:
                continue
            seen.add(phrase)
            generic = phrase in lex.generic
            if factor != weight and (generic or not any(entry.values())):
                if not generic:
                    continue  # a neutral phrase ("sarung tangan") is not the head noun
                use = weight
            else:
                use = factor
                if factor != weight:  # the title's head noun
                    head = entry
                factor = weight
            if text is title and phrase in lex.naming:
                making.update((c, w) for c, w in entry.items() if w > 0)
            target = paired if generic else scores
            for cluster, w in entry.items():
                target[cluster] = target.get(cluster, 0.0) + w * use
            matched.append((phrase, entry))
    if paired:
        for cluster, w in paired.items():
            if scores.get(cluster, 0.0) > 0 or w < 0:  # with a product term of the cluster, or against it
                scores[cluster] = scores.get(cluster, 0.0) + w
    best = max(scores.values(), default=0.0)
    for cluster, score in scores.items():
        if score < DOMINANCE * best and score > 0:
            scores[cluster] = 0.0
    if making:
        head = {**head, **{c: w for c, w in making.items() if head.get(c, 0.0) >= 0}}  # a head noun against it wins
    return scores, matched, head


def _terms(cluster: str, matched: list[tuple[str, dict[str, float]]]) -> str:
    terms = [p if e[cluster] > 0 else "-" + p for p, e in matched if e.get(cluster)]
    return ", ".join(terms[:6])


def split_variant(title: str) -> tuple[str, str]:
    """("Sepatu Sneakers Wanita", "Candy, 38") from "Sepatu Sneakers Wanita - Candy, 38"."""
    head, sep, tail = title.rpartition(_VARIANT_SEPARATOR)
    if sep and head and len(tail) <= _VARIANT_CHARS:
        return head, tail
    return title, ""


_DEFAULT_MODEL = object()  # "the configured model" (None means no model)
_NOTHING_NAMED: frozenset[str] = frozenset()


def classify_clusters(event: ListingEvent, lex: Lexicon | None = None,
                      model: Model | object | None = _DEFAULT_MODEL) -> list[ClusterMatch]:
    """Every cluster any layer finds. Precision first: a cluster stands at full confidence only on
    evidence that names the product (the HS code, the category, or the title's head noun); weaker or
    conflicting evidence is kept at `WEAK_CONFIDENCE`, which the rules never reject on; what only
    weak words say against an outside category is dropped."""
    lex = lex or default_lexicon()
    learned = default_model() if model is _DEFAULT_MODEL else model
    found: dict[str, Found] = {}
    hs = hs_layer(event, lex) if event.hs_code else None
    category = category_layer(event, lex) if event.category_path else None
    parts = split_variant(event.title or "")
    title_tokens = tokens(parts[0])
    scores, matched, head = lexicon_layer(event, lex, title_tokens, parts)
    if hs and hs[0] != NONE:
        found[hs[0]] = Found(0.97, [f"hs_code {hs[1]}* -> {hs[0]}"], True)
    if category and category[0] != NONE:
        known = found.get(category[0], Found(0.85, [], True))
        found[category[0]] = Found(max(known.confidence, 0.85),
                                   [*known.evidence, f"category '{category[1]}' -> {category[0]}"], True)
    outside = (hs is not None and hs[0] == NONE) or (category is not None and category[0] == NONE)
    for cluster, score in scores.items():
        if score < THRESHOLD:
            continue
        terms = _terms(cluster, matched)
        if cluster in found:
            known = found[cluster]
            found[cluster] = Found(min(0.99, known.confidence + 0.02), [*known.evidence, f"lexicon agrees ({terms})"],
                                   True)
            continue
        names = head.get(cluster, 0.0) > 0
        if outside and not names:
            continue  # an outside category, and no word that names a product of the cluster
        ev = [f"lexicon score {score:.1f} ({terms})" + ("" if names else "; the head noun does not name it")]
        for name, layer in (("hs_code", hs), ("category", category)):
            if layer is not None:
                ev.append(f"disagreement: {name} '{layer[1]}' says {layer[0] if layer[0] != NONE else 'no cluster'}")
        found[cluster] = Found(min(0.9, 0.55 + 0.1 * score), ev, names and hs is None and category is None)
    if isinstance(learned, Model) and title_tokens:
        model_layer(learned, title_tokens, found, {layer[0] for layer in (hs, category) if layer} if hs or category
                    else _NOTHING_NAMED)
    return [ClusterMatch(cluster=c, confidence=round(f.confidence, 2), evidence=f.evidence) if f.names else
            ClusterMatch(cluster=c, confidence=round(min(f.confidence, WEAK_CONFIDENCE), 2),
                         evidence=[*f.evidence, WEAK_EVIDENCE])
            for c, f in sorted(found.items())]


def model_layer(model: Model, title_tokens: list[str], found: dict[str, Found],
                named: set[str] | frozenset[str]) -> None:
    """Apply the model's rule per cluster to what the other layers found. `named`: what the HS code
    and the category said (a cluster, or NONE): the model never removes those; a cluster only the
    model finds is never named by it (the model weighs words, it does not know the head noun), and
    against an outside category it is not found at all."""
    fixed = named - {NONE}
    names, alone, with_lexicon = model.rules
    for cluster, score, finds, stands in zip(names, model.scores_of(title_tokens), alone, with_lexicon, strict=True):
        if cluster in found:
            if score < stands and cluster not in fixed:  # words in company the model has learnt is not this cluster
                known = found[cluster]
                if known.names:  # the head noun names it, the model disagrees: conflicting, so reviewed
                    found[cluster] = Found(known.confidence, [*known.evidence,
                                                              f"the model disagrees (p={probability(score):.2f})"],
                                           False)
                else:
                    del found[cluster]
            continue
        if score >= finds and NONE not in named:
            p = probability(score)
            explained = ", ".join(model.explain(title_tokens, cluster))
            found[cluster] = Found(min(0.9, p), [f"model p={p:.2f} ({explained})"], False)


@dataclass(slots=True)
class Found:
    confidence: float
    evidence: list[str]
    names: bool  # the evidence names the product: HS code, category, or the title's head noun


WEAK_EVIDENCE = "weak: no HS code, category or head noun names it"
