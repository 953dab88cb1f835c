"""Signed policy history that cannot be replayed: records ordered across the whole topic (as
published, whatever compaction kept), retirements on keys of their own, nothing from the future,
and signatures valid for one deployment and topic only.

The records are made here from the documented formats, and compaction is modelled as Kafka does it
(the newest record per key, at its own offset), so the tests hold the topic's contract."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from stream_filter.core.policy.files import PolicyError, parse_policy
from stream_filter.core.policy.history import version_key
from stream_filter.core.policy.signing import keygen, public_key
from stream_filter.core.policy.topic import PolicyMessage, PolicyTopic
from stream_filter.kafka.policy_feed import take_all
from tests.factories import policy_text

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
DEPLOYMENT, TOPIC = "sf-prod", "stream-filter.policy"


@dataclass
class Rec:
    key: bytes | None
    value: bytes | None


def _message(mode: str, text: str, at: datetime) -> PolicyMessage:
    return PolicyMessage(mode=mode, policy=text, published_at=at)  # type: ignore[arg-type]


def _rec(key: str, mode: str, text: str, at: datetime, private: bytes | None = None,
         deployment: str = DEPLOYMENT) -> Rec:
    message = _message(mode, text, at)
    if private is not None:  # the second format: the deployment and the topic are signed too
        from cryptography.hazmat.primitives import serialization

        signed = (f"stream-filter policy record 2\n{deployment}\n{TOPIC}\n{key}\n{mode}\n"
                  f"{at.isoformat()}\n{text}").encode()
        signing_key = serialization.load_pem_private_key(private, password=None)
        message = message.model_copy(update={"signature": base64.b64encode(signing_key.sign(signed)).decode()})  # type: ignore[union-attr,call-arg]
    return Rec(key.encode(), message.model_dump_json().encode())


def _compacted(records: list[Rec]) -> list[Rec]:
    """What Kafka keeps: the newest record per key, at its own offset."""
    last = {r.key: i for i, r in enumerate(records)}
    return [r for i, r in enumerate(records) if last[r.key] == i]


def _read(records: list[Rec], topic: PolicyTopic | None = None) -> PolicyTopic:
    topic = topic or PolicyTopic()
    take_all(topic, records, lambda _: None)  # type: ignore[arg-type]
    return topic


BASE, GONE = policy_text("1", policy_id="base"), policy_text("2", "food_beverage", policy_id="gone")
K_BASE, K_GONE = version_key(parse_policy(BASE)), version_key(parse_policy(GONE))


def test_a_retired_version_replayed_does_not_come_back_after_compaction() -> None:
    published = [_rec(K_BASE, "live", BASE, T0), _rec(K_GONE, "live", GONE, T0 + timedelta(hours=1)),
                 _rec(f"retire:{K_GONE}", "retire", K_GONE, T0 + timedelta(hours=2))]
    assert K_GONE not in _read(published).history.versions
    replayed = [*published, published[1]]  # someone who may write the topic publishes the old record again
    following = _read(replayed)
    assert K_GONE not in following.history.versions  # a worker following the topic
    restarted = _read(_compacted(replayed))  # one reading it from the start after compaction
    assert K_GONE not in restarted.history.versions and K_BASE in restarted.history.versions


def test_records_are_taken_in_order_of_publication_whatever_their_offsets() -> None:
    """A version published again by its publisher (same record) reads as published after compaction;
    a record older than the newest taken is refused."""
    newer = _rec(K_GONE, "live", GONE, T0 + timedelta(hours=1))
    records = [_rec(K_BASE, "live", BASE, T0), newer, _rec(K_BASE, "live", BASE, T0)]  # K_BASE's record again
    topic = _read(_compacted(records))
    assert set(topic.history.versions) == {K_BASE, K_GONE}
    late = PolicyTopic()
    late.take(newer.key, newer.value)
    with pytest.raises(PolicyError, match="older than the newest"):
        late.take(K_BASE.encode(), _rec(K_BASE, "live", BASE, T0).value)


def test_a_record_from_the_future_is_refused() -> None:
    topic = PolicyTopic()
    ahead = _rec(K_BASE, "live", BASE, datetime.now(UTC) + timedelta(days=30))
    with pytest.raises(PolicyError, match="in the future"):
        topic.take(ahead.key, ahead.value)
    assert topic.history.versions == {}
    assert topic.take(K_BASE.encode(), _rec(K_BASE, "live", BASE, datetime.now(UTC)).value) == "live"


def test_a_signature_is_valid_for_one_deployment_and_topic() -> None:
    private, public = keygen()
    topic = PolicyTopic(public_key(public))
    topic.deployment, topic.name = DEPLOYMENT, TOPIC
    staging = _rec(K_BASE, "live", BASE, T0, private, deployment="sf-staging")
    with pytest.raises(PolicyError):
        topic.take(staging.key, staging.value)
    assert topic.history.versions == {}
    first = _message("live", BASE, T0)  # the first format: no deployment or topic in what was signed
    from stream_filter.core.policy.signing import sign

    old = first.model_copy(update={"signature": sign(
        f"stream-filter policy record 1\n{K_BASE}\nlive\n{T0.isoformat()}\n{BASE}".encode(), private)})
    with pytest.raises(PolicyError, match="policy resign"):
        topic.take(K_BASE.encode(), old.model_dump_json().encode())
    resigning = PolicyTopic(public_key(public), deployment=DEPLOYMENT, name=TOPIC, first_format=True)
    assert resigning.take(K_BASE.encode(), old.model_dump_json().encode()) == "live" and resigning.old_format == 1
    prod = _rec(K_BASE, "live", BASE, T0, private)
    assert topic.take(prod.key, prod.value) == "live"


def test_policy_resign_would_sign_the_text_in_force_on_the_single_live_key() -> None:
    """The record written before histories were kept (key `live`) is replaced by a newer one: what
    `policy resign` publishes again is the newer text."""
    newer = policy_text("2", "food_beverage", policy_id="base")
    topic = _read([_rec("live", "live", BASE, T0), _rec("live", "live", newer, T0 + timedelta(hours=1))])
    assert topic.texts["live"] == newer
