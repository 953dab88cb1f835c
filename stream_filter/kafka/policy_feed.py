"""Live policy through Kafka: the policy topic (one partition, compacted) holds the live history of
versions and the shadow policy (`core/policy/topic.py` says what each record means).

Why a topic: changing a rule must not need a restart of every worker. `stream-filter policy
publish FILE [--shadow]` checks and publishes; every worker reads the topic from the beginning at
start, applies what it holds once, then follows it and swaps its book within a second or two. A
record that is invalid, unsigned (with a verify key set) or refused is logged, counted and
ignored: the book stays as it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.policy.history import live_book
from stream_filter.core.policy.signing import public_key, sign
from stream_filter.core.policy.topic import SHADOW_KEY, Mode, PolicyMessage, PolicyTopic, signed_bytes
from stream_filter.kafka.clients import client_options
from stream_filter.kafka.publish import publish
from stream_filter.kafka.reading import read_from_start, read_to_end
from stream_filter.kafka.topics import ensure_policy_topic
from stream_filter.settings import Settings

log = logging.getLogger("stream_filter.kafka.policy_feed")
Record = tuple[str, PolicyMessage]  # record key, message


def verify_key(settings: Settings) -> Ed25519PublicKey | None:
    path = settings.policy_verify_key
    return public_key(Path(path).read_bytes()) if path else None


def record(key: str, mode: Mode, text: str, private_pem: bytes | None = None,
           settings: Settings | None = None) -> Record:
    """A record published now, signed with the private key if one is given, for the deployment and
    policy topic of `settings` (the signature is valid there only)."""
    message = PolicyMessage(mode=mode, policy=text, published_at=datetime.now(UTC))
    if private_pem is not None:
        where = settings or Settings()
        signed = signed_bytes(key, message, where.app_id, where.topic_policy)
        message = message.model_copy(update={"signature": sign(signed, private_pem)})
    return key, message


def new_topic(settings: Settings) -> PolicyTopic:
    """The topic as this deployment's workers read it: their verify key, app id and topic name."""
    return PolicyTopic(verify_key(settings), deployment=settings.app_id, name=settings.topic_policy)


async def publish_records(settings: Settings, records: list[Record]) -> None:
    """With one producer, in the order given (the topic has one partition: one order for all)."""
    await ensure_policy_topic(settings)
    await publish(settings, [(key.encode(), message.model_dump_json().encode()) for key, message in records],
                  settings.topic_policy)


async def _open_at_beginning(settings: Settings) -> AIOKafkaConsumer:
    """A group-less consumer assigned every partition of the policy topic, at its beginning."""
    await ensure_policy_topic(settings)
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(settings.topic_policy, p) for p in consumer.partitions_for_topic(settings.topic_policy)
           or {0}]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


async def read_records(settings: Settings) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the policy topic now, in order (it has one partition: `ensure_policy_topic`)."""
    await ensure_policy_topic(settings)
    records: list[ConsumerRecord[bytes, bytes]] = []
    await read_from_start(settings, [TopicPartition(settings.topic_policy, 0)], lambda _, r: records.append(r))
    return records


def take_all(topic: PolicyTopic, records: list[ConsumerRecord[bytes, bytes]],
             on_invalid: Callable[[str], None]) -> set[Mode]:
    """Take records in order of publication, as a worker does; what changed. Refused ones go to `on_invalid`;
    records signed in the first format are refused unless the topic reads them (`policy resign`)."""
    changed: set[Mode] = set()
    for key, value in topic.order((r.key, r.value) for r in records):
        try:
            mode = topic.take(key, value)
        except Exception as exc:  # noqa: BLE001 - PolicyError, Refused, or a policy that cannot be read here
            log.warning("ignored a policy record: %s", exc)
            on_invalid(str(exc))
            continue
        if mode:
            changed.add(mode)
    return changed


async def read_topic(settings: Settings, on_invalid: Callable[[str], None],
                     first_format: bool = False) -> PolicyTopic:
    """What the policy topic holds now, as the workers see it (with their verify key, if set);
    `first_format`: records signed in the first format taken too (what `policy resign` publishes again)."""
    topic = new_topic(settings)
    topic.first_format = first_format
    take_all(topic, await read_records(settings), on_invalid)
    return topic


class PolicyFollower:
    """Applies the policy topic to the holder: what it holds at start once, then each new record.
    Until the topic holds a live version, the configured book (STREAM_FILTER_POLICY) stays live."""

    def __init__(self, settings: Settings, holder: PolicyHolder,
                 on_change: Callable[[Mode, PolicyBook | None], None], on_invalid: Callable[[str], None],
                 on_valid: Callable[[], None] = lambda: None) -> None:
        self.settings, self.holder = settings, holder
        self.on_change, self.on_invalid, self.on_valid = on_change, on_invalid, on_valid
        self.configured = holder.live
        self.topic = new_topic(settings)
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.topic = new_topic(self.settings)  # a restart reads the whole topic again: start from nothing
        self._consumer = await _open_at_beginning(self.settings)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the policy follower is not started")
        return self._consumer

    async def catch_up(self) -> None:
        """Read everything already on the topic, then apply the result once (called before the first
        listing is decided): ten historical versions are one change, not ten re-evaluations."""
        consumer = self._started()
        records: list[ConsumerRecord[bytes, bytes]] = []
        await read_to_end(consumer, consumer.assignment(), lambda _, r: records.append(r))
        self._apply(take_all(self.topic, records, self.on_invalid))

    async def poll(self, timeout_ms: int = 500) -> None:
        changed: set[Mode] = set()
        for records in (await self._started().getmany(timeout_ms=timeout_ms)).values():
            changed |= take_all(self.topic, records, self.on_invalid)
        self._apply(changed)

    def _apply(self, changed: set[Mode]) -> None:
        if changed:
            self.on_valid()
        if "live" in changed:
            book = live_book(self.topic.history, self.configured)
            if book.describe() != self.holder.live.describe():  # the same versions again: nothing to redo
                self.holder.live = book
                self.on_change("live", book)
        if "shadow" in changed:
            self.holder.shadow = self.topic.shadow
            self.on_change("shadow", self.topic.shadow)

    async def run(self) -> None:
        try:
            while True:
                await self.poll()
        except asyncio.CancelledError:
            raise
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


__all__ = ["SHADOW_KEY", "Mode", "PolicyFollower", "publish_records", "read_topic", "record", "take_all", "verify_key"]
