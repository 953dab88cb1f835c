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


ROOT = Path(__file__).resolve().parents[4]


def test_lexicon_and_model_cross_validated() -> None:
    """Five folds over the shipped model's training files (PRDECT-ID, the crafts, food and goods
    sets): each row decided by a model that never saw it. Guards a little under the figures measured
    on the 2026-12-07 mapping; the decision-level goals are in test_decision_goals.py."""
    from stream_filter.core.classify.evaluation import scores
    from stream_filter.core.classify.labelled import read_labelled
    from stream_filter.core.classify.model import load_model
    from stream_filter.core.classify.training import cross_validate

    model = load_model()
    assert model is not None
    files = {Path(path).parent.name: read_labelled(ROOT / path) for path, _ in model.trained_on}
    rows = [row for part in files.values() for row in part]
    predicted = cross_validate(rows)
    starts = dict(zip(files, [sum(len(p) for p in list(files.values())[:i]) for i in range(len(files))], strict=True))
    on = {name: scores(part, predicted[starts[name]:starts[name] + len(part)]) for name, part in files.items()}
    assert on["prdect-id"]["textile_fashion"].f1 >= 0.92
    assert on["prdect-id"]["food_beverage"].f1 >= 0.83
    assert on["prdect-id"]["crafts"].fp <= 2  # weak finds, reviewed (a batik cloth, a carved frame)
    assert on["crafts"]["crafts"].f1 >= 0.93
    assert on["food"]["food_beverage"].f1 >= 0.93 and on["food"]["crafts"].fp <= 1  # a weak find: reviewed
