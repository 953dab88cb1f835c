"""The generic word classes are derived from data: a word listed there that occurs at least five
times in the labelled sets occurs in at least three of their top-level categories (a word that stays
in one category is a product word, not a generic one); rarer ones are listed for their class."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from stream_filter.core.classify.labelled import read_labelled
from stream_filter.core.classify.lexicon import default_lexicon
from stream_filter.core.classify.text import tokens

DATA = Path(__file__).resolve().parents[3] / "data"


def test_every_generic_word_seen_spreads_across_categories() -> None:
    where: dict[str, set[str]] = defaultdict(set)
    count: dict[str, int] = defaultdict(int)
    for path in (DATA / "goods" / "listings.tsv", DATA / "prdect-id" / "products.csv", DATA / "food" / "listings.tsv",
                 DATA / "crafts" / "listings.tsv"):
        for row in read_labelled(path):
            for token in set(tokens(row.title)):
                where[token].add(row.top or row.category)
                count[token] += 1
    generic = default_lexicon().generic
    seen = {word for word in generic if count[word] >= 5}
    assert len(seen) >= 0.6 * len(generic)
    assert {word: sorted(where[word]) for word in seen if len(where[word]) < 3} == {}
