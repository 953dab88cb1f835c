"""Replays are decided again; re-published events are duplicates; old events are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from stream_filter.core.contracts.dead_letter import ErrorCode
from stream_filter.core.dedupe import RecentEvents
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Output, route
from tests.factories import event_dict

BOOK = PolicyBook.load("default")


def test_replay_is_not_a_duplicate_but_a_republish_is() -> None:
    recent = RecentEvents(10)
    assert recent.duplicate_of("e1", ("t", 0, 5)) is None
    assert recent.duplicate_of("e1", ("t", 0, 5)) is None  # same position: a replay after a crash
    assert recent.duplicate_of("e1", ("t", 1, 9)) == ("t", 0, 5)


def test_memory_is_bounded() -> None:
    recent = RecentEvents(2)
    for i in range(3):
        recent.duplicate_of(f"e{i}", ("t", 0, i))
    assert recent.duplicate_of("e0", ("t", 0, 99)) is None  # forgotten: oldest first
    assert recent.duplicate_of("e2", ("t", 0, 98)) == ("t", 0, 2)


def test_route_dead_letters_duplicates_with_the_original_position() -> None:
    recent = RecentEvents(10)
    value = orjson.dumps(event_dict())
    first = route(b"L-1", value, BOOK, source=("in", 0, 1), recent=recent)
    replay = route(b"L-1", value, BOOK, source=("in", 0, 1), recent=recent)
    again = route(b"L-1", value, BOOK, source=("in", 2, 7), recent=recent)
    assert first.output is not Output.DEAD_LETTER and replay.output is first.output
    assert again.output is Output.DEAD_LETTER and again.error is not None
    assert again.error.code is ErrorCode.DUPLICATE_EVENT and "in/0@1" in again.error.message


def test_events_older_than_the_horizon_are_refused() -> None:
    now = datetime(2026, 11, 10, tzinfo=UTC)
    value = orjson.dumps(event_dict(occurred_at="2026-11-01T00:00:00Z"))
    old = route(b"L-1", value, BOOK, now=now, max_age=timedelta(days=7))
    fresh = route(b"L-1", value, BOOK, now=now, max_age=timedelta(days=30))
    assert old.error is not None and old.error.code is ErrorCode.EVENT_TOO_OLD
    assert fresh.output is not Output.DEAD_LETTER
