"""The live policy as a history of versions, and the policy topic's records, without a broker."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stream_filter.core.policy.files import PolicyError, parse_policy
from stream_filter.core.policy.history import PolicyHistory, Refused, version_key
from stream_filter.core.policy.signing import keygen, public_key, sign
from stream_filter.core.policy.topic import PolicyMessage, PolicyTopic

TODAY = date(2026, 11, 29)
POLICY = """id: p
version: "{version}"
effective_from: {start}
blocked_clusters:
  - clusters: [{clusters}]
    reason: {{code: CLOSED, legal_basis: test, message: "{{cluster}} closed"}}
"""


def text(version: str, start: str = "2021-01-01", clusters: str = "textile_fashion") -> str:
    return POLICY.format(version=version, start=start, clusters=clusters)


def add(history: PolicyHistory, body: str, today: date | None = TODAY) -> bool:
    policy = parse_policy(body)
    return history.add(version_key(policy), policy, today)


def test_a_future_version_leaves_today_alone_and_takes_over_on_its_date() -> None:
    history = PolicyHistory()
    assert add(history, text("1"))
    assert add(history, text("2", start="2026-12-01", clusters="textile_fashion, food_beverage"))
    book = history.book()
    assert book is not None
    assert [p.version for p in book.active(TODAY)] == ["1"]
    assert [p.version for p in book.active(date(2026, 12, 1))] == ["2"]
    assert [p.version for p in book.active(date(2025, 6, 1))] == ["1"]  # late events keep their day's version


def test_a_publish_that_leaves_nothing_in_force_today_is_refused() -> None:
    history = PolicyHistory()
    with pytest.raises(Refused, match="no policy in force on 2026-11-29"):
        add(history, text("1", start="2026-12-01"))
    assert history.versions == {}
    assert add(history, text("1", start="2026-12-01"), today=None)  # reading the past: no check


def test_the_same_version_with_other_content_is_refused_and_the_same_content_is_no_change() -> None:
    history = PolicyHistory()
    assert add(history, text("1"))
    with pytest.raises(Refused, match="p@1 is published already with other content"):
        add(history, text("1", clusters="food_beverage"))
    assert not add(history, text("1"))


def test_retiring_the_only_version_in_force_is_refused() -> None:
    history = PolicyHistory()
    add(history, text("1"))
    add(history, text("2", start="2026-12-01"))
    [current] = history.find("p@1")
    with pytest.raises(Refused, match="retiring p@1 would leave no policy in force"):
        history.retire(current, TODAY)
    [future] = history.find("p@2")
    assert history.retire(future, TODAY) and history.find("p@2") == []


def _record(mode: str, body: str, signature: str | None = None) -> bytes:
    return PolicyMessage(mode=mode, policy=body, published_at=datetime.now(UTC),  # type: ignore[arg-type]
                         signature=signature).model_dump_json().encode()


def test_with_a_verify_key_only_records_signed_by_its_pair_are_taken() -> None:
    private, public = keygen()
    other, _ = keygen()
    topic = PolicyTopic(public_key(public))
    body = text("1")
    key = version_key(parse_policy(body)).encode()
    with pytest.raises(PolicyError, match="unsigned"):
        topic.take(key, _record("live", body), TODAY)
    with pytest.raises(PolicyError, match="does not verify"):
        topic.take(key, _record("live", body, sign(body, other)), TODAY)
    with pytest.raises(PolicyError, match="does not verify"):  # a signature of other content
        topic.take(key, _record("live", text("1", clusters="crafts"), sign(body, private)), TODAY)
    assert topic.history.versions == {}
    assert topic.take(key, _record("live", body, sign(body, private)), TODAY) == "live"


def test_records_say_what_their_key_says() -> None:
    topic = PolicyTopic()
    body = text("1")
    with pytest.raises(PolicyError, match="does not match its policy"):
        topic.take(b"live:p@1#0000000000000000", _record("live", body), TODAY)
    with pytest.raises(PolicyError, match="a live record on key 'shadowy'"):
        topic.take(b"shadowy", _record("live", body), TODAY)
    assert topic.take(b"live", _record("live", body), TODAY) == "live"  # the record before histories
    assert topic.take(b"shadow", _record("shadow", text("9")), TODAY) == "shadow" and topic.shadow is not None
    assert topic.take(b"shadow", _record("shadow", ""), TODAY) == "shadow" and topic.shadow is None


def test_a_retire_record_removes_its_version() -> None:
    topic = PolicyTopic()
    one, two = text("1"), text("2", start="2024-01-01")
    for body in (one, two):
        topic.take(version_key(parse_policy(body)).encode(), _record("live", body), TODAY)
    key = version_key(parse_policy(two))
    with pytest.raises(PolicyError, match="names another version"):
        topic.take(key.encode(), _record("retire", "live:p@1#x"), TODAY)
    assert topic.take(key.encode(), _record("retire", key), TODAY) == "live"
    assert [p.version for p in topic.history.versions.values()] == ["1"]


def test_ten_historical_versions_make_one_book() -> None:
    topic = PolicyTopic()
    for i in range(10):
        body = text(str(i), start=f"20{15 + i}-01-01")
        topic.take(version_key(parse_policy(body)).encode(), _record("live", body), None)
    book = topic.history.book()
    assert book is not None and len(book.policies) == 10
    assert [p.version for p in book.active(TODAY)] == ["9"]
