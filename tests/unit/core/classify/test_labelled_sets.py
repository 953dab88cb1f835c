"""The project's labelled sets stay what their READMEs say: no near-duplicate rows (the same words
once numbers and units are removed: a set of generated combinations would measure its template), the
dev hold-out shares no top-level category with the training set, and wide categories keep their
variety of head nouns."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from stream_filter.core.classify.labelled import read_labelled

DATA = Path(__file__).resolve().parents[3] / "data"
SETS = [DATA / "goods" / "listings.tsv", DATA / "goods" / "dev-holdout.tsv", DATA / "crafts" / "listings.tsv",
        DATA / "food" / "listings.tsv"]
UNITS = re.compile(r"^(ml|l|liter|gr|g|gram|kg|mg|cm|mm|m|meter|inch|pcs|pc|w|watt|v|mah|gb|tb|oz|lembar|x)$")


def shape(title: str) -> str:
    words = re.findall(r"[a-z]+|\d+", title.lower())
    return " ".join(sorted(w for w in words if not w.isdigit() and not UNITS.match(w)))


def test_no_two_rows_are_the_same_once_numbers_and_units_are_removed() -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for path in SETS:
        for row in read_labelled(path):
            seen[shape(row.title)].append(f"{path.parent.name}/{path.name}: {row.title}")
    assert len(seen) > 2500
    assert [rows for rows in seen.values() if len(rows) > 1] == []


def test_the_shape_ignores_numbers_units_and_order() -> None:
    assert shape("Kopi Bubuk 250g isi 2") == shape("kopi isi bubuk 500 gr 3")
    assert shape("Kopi Bubuk 250g") != shape("Teh Bubuk 250g")


def test_the_dev_holdout_holds_whole_top_level_categories() -> None:
    train = {row.top for row in read_labelled(DATA / "goods" / "listings.tsv")}
    held = {row.top for row in read_labelled(DATA / "goods" / "dev-holdout.tsv")}
    assert len(held) >= 10 and train & held == set()


def test_wide_categories_keep_their_head_nouns() -> None:
    firsts: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for path in SETS[:2]:
        for row in read_labelled(path):
            firsts[row.top].add(row.title.lower().split()[0])
            counts[row.top] += 1
    narrow = {top: len(words) for top, words in firsts.items() if counts[top] >= 40 and len(words) < 15}
    narrow.pop("buku", None)  # books: "buku", "novel", "komik" (README)
    assert narrow == {}
    assert sum(1 for row in read_labelled(SETS[0]) if not any(row.labels.values())) >= 1300
