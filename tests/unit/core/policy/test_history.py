"""The live policy as a history of versions, and the policy topic's records, without a broker."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stream_filter.core.policy.files import PolicyError, parse_policy
from stream_filter.core.policy.history import PolicyHistory, Refused, version_key
from stream_filter.core.policy.signing import keygen, public_key, sign
from stream_filter.core.policy.topic import SHADOW_KEY, PolicyMessage, PolicyTopic, signed_bytes
from tests.factories import policy_text

TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def text(version: str, start: str = "2021-01-01", clusters: str = "textile_fashion", until: str | None = None) -> str:
    return policy_text(version, clusters, policy_id="p", start=start, until=until, code="CLOSED", verb="closed")


def add(history: PolicyHistory, body: str, today: date = TODAY) -> bool:
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
    assert add(history, text("1", start="2026-12-01"), today=date(2026, 12, 1))  # checked on its own day


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


DEPLOYMENT, TOPIC = "sf-prod", "stream-filter.policy"


def _record(mode: str, body: str, key: str, at: datetime = NOW, private: bytes | None = None) -> bytes:
    message = PolicyMessage(mode=mode, policy=body, published_at=at)  # type: ignore[arg-type]
    if private is not None:
        signed = signed_bytes(key, message, DEPLOYMENT, TOPIC)
        message = message.model_copy(update={"signature": sign(signed, private)})
    return message.model_dump_json().encode()


def _verified(public: bytes) -> PolicyTopic:
    return PolicyTopic(public_key(public), deployment=DEPLOYMENT, name=TOPIC)


def _take(topic: PolicyTopic, mode: str, body: str, key: str | None = None, at: datetime = NOW,
          private: bytes | None = None) -> str | None:
    key = key if key is not None else version_key(parse_policy(body))
    return topic.take(key.encode(), _record(mode, body, key, at, private))


def test_with_a_verify_key_only_records_signed_by_its_pair_are_taken() -> None:
    private, public = keygen()
    other, _ = keygen()
    topic = _verified(public)
    body = text("1")
    with pytest.raises(PolicyError, match="unsigned"):
        _take(topic, "live", body)
    with pytest.raises(PolicyError, match="does not verify"):
        _take(topic, "live", body, private=other)
    key = version_key(parse_policy(body))
    forged = PolicyMessage(mode="live", policy=text("1", clusters="crafts"), published_at=NOW)
    signature = sign(signed_bytes(key, PolicyMessage(mode="live", policy=body, published_at=NOW), DEPLOYMENT, TOPIC),
                     private)
    with pytest.raises(PolicyError, match="does not verify"):  # a signature of other content
        topic.take(key.encode(), forged.model_copy(update={"signature": signature}).model_dump_json().encode())
    assert topic.history.versions == {}
    assert _take(topic, "live", body, private=private) == "live"


def test_a_signature_binds_key_mode_and_time() -> None:
    """A signed record replayed under another key, mode or time does not verify."""
    private, public = keygen()
    topic = _verified(public)
    body = text("1")
    key = version_key(parse_policy(body))
    signed = PolicyMessage.model_validate_json(_record("live", body, key, NOW, private))
    for other_key, message in ((SHADOW_KEY, signed.model_copy(update={"mode": "shadow"})), ("live", signed),
                               (key, signed.model_copy(update={"published_at": LATER}))):
        with pytest.raises(PolicyError, match="does not verify"):
            topic.take(other_key.encode(), message.model_dump_json().encode())
    clear = _record("shadow", "", SHADOW_KEY, NOW, private)
    assert topic.take(SHADOW_KEY.encode(), clear) == "shadow"
    with pytest.raises(PolicyError, match="not newer"):  # the same signed clear, replayed
        topic.take(SHADOW_KEY.encode(), clear)


def test_records_say_what_their_key_says() -> None:
    topic = PolicyTopic()
    body = text("1")
    with pytest.raises(PolicyError, match="does not match its policy"):
        _take(topic, "live", body, key="live:p@1#0000000000000000")
    with pytest.raises(PolicyError, match="a live record on key 'shadowy'"):
        _take(topic, "live", body, key="shadowy")
    with pytest.raises(PolicyError, match="a shadow record on key 'live:p@1"):
        _take(topic, "shadow", body, key=version_key(parse_policy(body)))
    with pytest.raises(PolicyError, match="tombstone on version key"):
        topic.take(version_key(parse_policy(body)).encode(), None)
    assert _take(topic, "shadow", text("9"), key=SHADOW_KEY) == "shadow" and topic.shadow is not None
    assert _take(topic, "shadow", "", key=SHADOW_KEY, at=LATER) == "shadow" and topic.shadow is None


def test_the_record_before_histories_is_replaced_by_a_newer_one() -> None:
    topic = PolicyTopic()
    assert _take(topic, "live", text("1"), key="live") == "live"
    assert _take(topic, "live", text("2"), key="live", at=LATER) == "live"
    assert [p.version for p in topic.history.versions.values()] == ["2"]
    assert _take(topic, "live", text("2"), at=LATER) is None  # the same version on its own key: no second copy


def test_a_retire_record_removes_its_version_and_is_checked_on_its_own_day() -> None:
    topic = PolicyTopic()
    one, two = text("1"), text("2", start="2024-01-01")
    _take(topic, "live", one)
    _take(topic, "live", two)
    key = version_key(parse_policy(two))
    with pytest.raises(PolicyError, match="names another version"):
        _take(topic, "retire", "live:p@1#x", key=key, at=LATER)
    assert _take(topic, "retire", key, key=key, at=LATER) == "live"
    assert [p.version for p in topic.history.versions.values()] == ["1"]
    last = version_key(parse_policy(one))
    with pytest.raises(PolicyError, match="would leave no policy in force"):
        _take(topic, "retire", last, key=last, at=LATER)


def test_checks_use_the_records_own_day_so_every_reader_agrees() -> None:
    """A version published in 2019, in force then and expired since, is taken by a worker reading the
    topic today as by one that followed it in 2019."""
    topic = PolicyTopic()
    old = text("1", start="2019-01-01", until="2020-01-01")
    assert _take(topic, "live", old, at=datetime(2019, 6, 1, tzinfo=UTC)) == "live"
    with pytest.raises(PolicyError, match="no policy in force on 2026-11-29"):  # first version, future-dated
        _take(PolicyTopic(), "live", text("2", start="2027-01-01"))


def test_ten_historical_versions_make_one_book() -> None:
    topic = PolicyTopic()
    for i in range(10):
        _take(topic, "live", text(str(i), start=f"20{15 + i}-01-01"), at=datetime(2015 + i, 6, 1, tzinfo=UTC))
    book = topic.history.book()
    assert book is not None and len(book.policies) == 10
    assert [p.version for p in book.active(TODAY)] == ["9"]
