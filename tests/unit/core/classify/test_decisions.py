"""Decision-level figures: rows decided as cross-border listings, counted as false rejections,
reviews and leaks per top-level category; the wide labelled layout they come from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream_filter.core.classify.decisions import (
    CLOSED,
    NON_CLOSED,
    NOT_SCORED,
    closed_clusters,
    decide_rows,
    figures,
    kind_of,
)
from stream_filter.core.classify.labelled import Labelled, read_labelled
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.policy.book import PolicyBook

ALL3 = ("crafts", "food_beverage", "textile_fashion")
WIDE = """# columns: clusters, top, marketplace, category, title
# labels: crafts, food_beverage, textile_fashion
textile_fashion\tfashion\tshopee\tPakaian Pria > Kaos\tKaos Polos Pria Cotton Combed 30s Hitam
-\telectronics\ttokopedia\tElektronik > Audio\tSpeaker Bluetooth Portable Bass Mantap
-\tkitchen\t-\t\tWajan Anti Lengket 28 cm
"""


def _rows(text: str, tmp_path: Path) -> list[Labelled]:
    path = tmp_path / "set.tsv"
    path.write_text(text, encoding="utf-8")
    return read_labelled(path)


def test_the_wide_layout_carries_marketplace_path_and_top(tmp_path: Path) -> None:
    rows = _rows(WIDE, tmp_path)
    assert [r.top for r in rows] == ["fashion", "electronics", "kitchen"]
    assert rows[0].category_path == ("Pakaian Pria", "Kaos") and rows[0].marketplace == "shopee"
    assert rows[2].marketplace == "" and rows[2].category_path == ()
    assert rows[0].labels == {"crafts": False, "food_beverage": False, "textile_fashion": True}


def test_a_malformed_wide_row_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="columns"):
        _rows(WIDE + "-\tkitchen\tWajan\n", tmp_path)


def test_kinds_follow_the_labels() -> None:
    assert kind_of(Labelled("t", dict.fromkeys(ALL3, False), "x"), ALL3) == NON_CLOSED
    assert kind_of(Labelled("t", {"food_beverage": True}, "x"), ALL3) == CLOSED
    assert kind_of(Labelled("t", {"food_beverage": False}, "x"), ALL3) == NOT_SCORED


def test_rows_are_decided_as_cross_border_listings_and_tallied(tmp_path: Path) -> None:
    book = PolicyBook.load("default")
    assert closed_clusters(book) == ALL3
    rows = _rows(WIDE, tmp_path)
    decided = decide_rows(rows, book, None)
    assert [d.outcome for d in decided] == [Outcome.REJECTED, Outcome.APPROVED, Outcome.APPROVED]
    result = figures(rows, decided, ALL3)
    assert result.overall[NON_CLOSED].rows == 2 and result.false_rejection_rate == 0.0
    assert result.overall[CLOSED].rows == 1 and result.leak_rate == 0.0
    assert result.by_top["electronics"][NON_CLOSED].approved == 1
    wrong = figures(rows, [decided[1], decided[0], decided[2]], ALL3)  # swapped: a leak and a false rejection
    assert wrong.false_rejection_rate == 0.5 and wrong.leak_rate == 1.0
    assert wrong.false_rejections[0].startswith("[electronics] Speaker Bluetooth")


def test_the_command_prints_the_rates(tmp_path: Path) -> None:
    path = tmp_path / "set.tsv"
    path.write_text(WIDE, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "stream_filter", "eval", "--decisions", str(path), "--model", "none"],
                         capture_output=True, text=True, check=True).stdout
    assert "3 rows decided as cross-border listings" in out
    overall = next(line for line in out.splitlines() if line.strip().startswith("overall")).split()
    assert overall[1:] == ["2", "0.0%", "0.0%", "1", "0.0%", "0.0%"]
