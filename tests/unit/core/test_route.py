"""route(): one record in, exactly one output, deterministic ids, nothing raised."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from stream_filter.core.contracts.dead_letter import ErrorCode
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Output, route
from stream_filter.dev.samples import MALFORMED, generate
from tests.factories import event_dict

POLICY = PolicyBook.load("default")
VERSION = POLICY.policies[0].version


def test_samples_route_to_their_expected_outcome() -> None:
    for sample in generate(500, seed=3):
        routed = route(sample.event["listing_id"].encode(), sample.line(), POLICY)
        assert routed.output.value == sample.outcome, sample
        assert routed.decision is not None and routed.decision.reasons[0].code == sample.reason


def test_decision_record_is_complete_and_explainable() -> None:
    value = orjson.dumps(event_dict(seller={"country": "CN"}, ship_from={"location": "Shenzhen"},
                                    price={"amount": "2500000", "currency": "IDR"}))
    routed = route(b"L-1", value, POLICY)
    body = orjson.loads(routed.value or b"")
    assert body["outcome"] == "rejected" and routed.output is Output.REJECTED
    assert body["origin"]["class"] == "cross_border" and body["origin"]["evidence"]
    assert body["clusters"][0]["cluster"] == "textile_fashion"
    [default] = POLICY.policies
    assert body["policy"] == {"id": "default", "version": VERSION, "digest": default.digest}
    assert len(default.digest) == 16
    assert body["listing"] == orjson.loads(value)
    headers = dict(routed.headers)
    assert headers["outcome"] == b"rejected" and headers["reason-codes"] == b"CLUSTER_BLOCKED_CROSS_BORDER"
    assert headers["policy-version"] == VERSION.encode()


def test_replay_gives_the_same_decision_id() -> None:
    value = orjson.dumps(event_dict())
    first = route(b"L-1", value, POLICY, now=datetime(2026, 1, 1, tzinfo=UTC))
    again = route(b"L-1", value, POLICY, now=datetime(2026, 6, 1, tzinfo=UTC))
    other = route(b"L-1", orjson.dumps(event_dict(event_id="ev-2")), POLICY)
    assert first.decision and again.decision and other.decision
    assert first.decision.decision_id == again.decision.decision_id != other.decision.decision_id


@pytest.mark.parametrize(("raw", "code"), MALFORMED)
def test_malformed_records_go_to_dead_letter_with_source(raw: bytes, code: str) -> None:
    routed = route(b"x", raw, POLICY, source=("listings.new", 3, 42))
    assert routed.output is Output.DEAD_LETTER
    assert routed.value == raw  # original bytes untouched
    headers = dict(routed.headers)
    assert headers["error-code"] == code.encode()
    assert (headers["source-topic"], headers["source-partition"], headers["source-offset"]) == (
        b"listings.new", b"3", b"42")


def test_a_bug_in_the_core_becomes_a_processing_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import stream_filter.core.classify.classifier as reading

    def boom(*_: object) -> None:
        raise RuntimeError("classifier bug")

    monkeypatch.setattr(reading, "classify_origin", boom)
    routed = route(b"L-1", orjson.dumps(event_dict()), POLICY)
    assert routed.output is Output.DEAD_LETTER
    assert routed.error is not None and routed.error.code is ErrorCode.PROCESSING_ERROR
    assert "classifier bug" in routed.error.message


def test_deletion_is_a_remove_action() -> None:
    routed = route(b"L-1", orjson.dumps(event_dict(event_type="listing.deleted", title=None)), POLICY)
    assert routed.decision is not None
    assert routed.decision.action == "remove" and routed.decision.reasons[0].code == "LISTING_DELETED"
