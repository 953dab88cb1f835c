"""The classifiers on real Tokopedia listings (PRDECT-ID), with the thresholds the project promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_filter.core.classify.evaluation import measure, report

DATA = Path(__file__).resolve().parents[3] / "data" / "prdect-id" / "products.csv"


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    assert DATA.exists(), f"evaluation data missing at {DATA}"
    res = measure(DATA)
    print("\n" + report(res))
    return res


# Lexicon alone, on the 2026-12-07 mapping (body care, precious metal, health, beauty, household,
# toys and party supplies scored as negatives where they are clean): guards, not goals.
def test_textile_fashion_f1(result) -> None:  # type: ignore[no-untyped-def]
    assert result.clusters["textile_fashion"].f1 >= 0.93


def test_food_beverage_f1(result) -> None:  # type: ignore[no-untyped-def]
    assert result.clusters["food_beverage"].f1 >= 0.80


def test_no_domestic_location_is_called_cross_border(result) -> None:  # type: ignore[no-untyped-def]
    assert result.rows == 1323
    assert result.cross_border_locations == []


SETS = Path(__file__).resolve().parents[3] / "data"


def test_lexicon_and_model_cross_validated() -> None:
    """Five folds over PRDECT-ID, the crafts set and the food set: each row decided by a model that
    never saw it. Guards at the figures measured on the 2026-12-07 mapping (fashion 0.936, food 0.891
    on PRDECT-ID, crafts 0.941 on the crafts set): decision-level figures come from `stream-filter eval --decisions`."""
    from stream_filter.core.classify.evaluation import scores
    from stream_filter.core.classify.labelled import read_labelled
    from stream_filter.core.classify.training import cross_validate

    files = [read_labelled(DATA), read_labelled(SETS / "crafts" / "listings.tsv"),
             read_labelled(SETS / "food" / "listings.tsv")]
    predicted = cross_validate([row for rows in files for row in rows])
    on_prdect, on_crafts, on_food = (scores(rows, predicted[start:start + len(rows)]) for rows, start in
                                     zip(files, (0, len(files[0]), len(files[0]) + len(files[1])), strict=True))
    assert on_prdect["textile_fashion"].f1 >= 0.93
    assert on_prdect["food_beverage"].f1 >= 0.87
    assert on_prdect["crafts"].fp == 0
    assert on_crafts["crafts"].f1 >= 0.93
    assert on_food["food_beverage"].f1 >= 0.93 and on_food["crafts"].fp == 0
