"""The classifiers on real Tokopedia listings (PRDECT-ID), with the thresholds the project promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_filter.core.classify.evaluation import measure, report

DATA = Path(__file__).resolve().parents[5] / "shared" / "data" / "prdect-id" / "products.csv"


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    assert DATA.exists(), f"evaluation data missing at {DATA}"
    res = measure(DATA)
    print("\n" + report(res))
    return res


def test_textile_fashion_f1(result) -> None:  # type: ignore[no-untyped-def]
    assert result.clusters["textile_fashion"].f1 >= 0.95


def test_food_beverage_f1(result) -> None:  # type: ignore[no-untyped-def]
    assert result.clusters["food_beverage"].f1 >= 0.92


def test_no_domestic_location_is_called_cross_border(result) -> None:  # type: ignore[no-untyped-def]
    assert result.rows == 1323
    assert result.cross_border_locations == []


CRAFTS_SET = Path(__file__).resolve().parents[3] / "data" / "crafts" / "listings.tsv"


def test_lexicon_and_model_cross_validated() -> None:
    """Five folds over PRDECT-ID and the crafts set: each row decided by a model that never saw it."""
    from stream_filter.core.classify.evaluation import scores
    from stream_filter.core.classify.labelled import read_labelled
    from stream_filter.core.classify.training import cross_validate

    prdect, crafts = read_labelled(DATA), read_labelled(CRAFTS_SET)
    predicted = cross_validate(prdect + crafts)
    on_prdect, on_crafts = scores(prdect, predicted[:len(prdect)]), scores(crafts, predicted[len(prdect):])
    assert on_prdect["textile_fashion"].f1 >= 0.97
    assert on_prdect["food_beverage"].f1 >= 0.94
    assert on_prdect["crafts"].fp == 0
    assert on_crafts["crafts"].f1 >= 0.93
