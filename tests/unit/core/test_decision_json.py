"""decision_json against pydantic's own serialisation of the DecisionRecord: the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from stream_filter.core.contracts.decision import DecisionRecord, decision_json
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import WIB
from stream_filter.core.route import route
from stream_filter.dev.samples import example_lines
from tests.factories import event_dict

BOOK = PolicyBook.load("default")


def odd_listings() -> list[bytes]:
    """Values a marketplace may send: floats of every size, unicode and escapes, nested extras."""
    extras = [{"rating": 4.5}, {"weight_kg": 1e-7}, {"views": 12345678901234}, {"big": 1e300},
              {"emoji": "\U0001f600 \u2028 \u00e9 \\ \" \t"}, {"nested": {"a": [1, 2.0, None, True, {"b": []}]}},
              {"price": {"amount": 19.99, "currency": "usd", "note": "fob"}}, {"title": "  Kain Tenun   Ikat  "}]
    return [orjson.dumps(event_dict(listing_id=f"L-{i}", event_id=f"ev-{i}", **extra))
            for i, extra in enumerate(extras)]


def test_same_bytes_as_pydantic() -> None:
    lines = [*example_lines(300), *odd_listings()]
    checked = 0
    for line in lines:
        decided = route(None, line, BOOK, require_key=False).decision
        if decided is None:
            continue
        assert decision_json(decided) == decided.model_dump_json(by_alias=True).encode()
        checked += 1
    assert checked > 250


def test_a_decision_at_another_offset_is_written_by_pydantic() -> None:
    decided = route(None, example_lines(10)[0], BOOK, require_key=False).decision
    assert decided is not None
    at = datetime(2026, 11, 1, 17, tzinfo=UTC).astimezone(WIB)
    fields = {k: v for k, v in dict(decided).items() if k != "schema_version"}
    moved = DecisionRecord.built(**{**fields, "decided_at": at})
    assert decision_json(moved) == moved.model_dump_json(by_alias=True).encode()
