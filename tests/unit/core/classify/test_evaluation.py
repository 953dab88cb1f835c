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
