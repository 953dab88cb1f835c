"""Live policy through Kafka: a compacted topic holds the live and the shadow policy.

Why a topic: changing a rule must not need a restart of every worker. `stream-filter policy
publish FILE [--shadow]` validates and publishes; every worker reads the topic from the beginning
at start, then follows it and swaps its policy within a second or two. Key `live` or `shadow`;
value a `PolicyMessage` with the policy's YAML text (an empty text clears the shadow). An invalid
record is logged, counted and ignored: the last good policy stays in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import BaseModel, ValidationError

from stream_filter.kafka_io import client_options
from stream_filter.policy_files import PolicyBook, PolicyError, policy_from_text
from stream_filter.settings import Settings

log = logging.getLogger("stream_filter.policy_feed")
Mode = Literal["live", "shadow"]


class PolicyMessage(BaseModel):
    schema_version: Literal[1] = 1
    mode: Mode
    policy: str  # YAML text; "" clears the shadow
    published_at: datetime


@dataclass
class PolicyHolder:
    """What the agent reads per batch: the live book, and the shadow book if one is being evaluated."""

    live: PolicyBook
    shadow: PolicyBook | None = None


def parse_message(value: bytes | None) -> tuple[Mode, PolicyBook | None]:
    """The mode and the book a record carries; PolicyError when it is not a usable policy."""
    try:
        message = PolicyMessage.model_validate_json(value or b"")
    except ValidationError as exc:
        raise PolicyError(f"policy record is not a PolicyMessage: {exc.errors(include_url=False)[0]['msg']}") from exc
    if not message.policy.strip():
        if message.mode == "live":
            raise PolicyError("an empty live policy is not allowed")
        return message.mode, None
    return message.mode, PolicyBook([policy_from_text(message.policy, f"policy topic ({message.mode})")])


async def ensure_policy_topic(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        if settings.topic_policy not in await admin.list_topics():
            topic = NewTopic(settings.topic_policy, 1, settings.topic_replication,
                             topic_configs={"cleanup.policy": "compact"})
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def publish_policy(settings: Settings, mode: Mode, text: str) -> None:
    if text.strip():
        policy_from_text(text, "policy to publish")  # never publish what a worker would refuse
    await ensure_policy_topic(settings)
    value = PolicyMessage(mode=mode, policy=text, published_at=datetime.now(UTC)).model_dump_json().encode()
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        await (await producer.send(settings.topic_policy, value, key=mode.encode()))
    finally:
        await producer.stop()


async def _open_at_beginning(settings: Settings) -> Any:
    """A group-less consumer assigned every partition of the policy topic, at its beginning."""
    await ensure_policy_topic(settings)
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(settings.topic_policy, p) for p in consumer.partitions_for_topic(settings.topic_policy)
           or {0}]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


async def _read_to_end(consumer: Any, handle: Callable[[bytes | None], None]) -> None:
    """Hand every record up to the current end offsets to `handle`."""
    tps = list(consumer.assignment())
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        while await consumer.position(tp) < ends[tp]:
            for records in (await consumer.getmany(tp, timeout_ms=200)).values():
                for record in records:
                    handle(record.value)


async def read_latest(settings: Settings) -> dict[str, PolicyMessage]:
    """The latest valid message per mode on the policy topic."""
    latest: dict[str, PolicyMessage] = {}

    def keep(value: bytes | None) -> None:
        try:
            message = PolicyMessage.model_validate_json(value or b"")
        except ValidationError:
            return
        latest[message.mode] = message

    consumer = await _open_at_beginning(settings)
    try:
        await _read_to_end(consumer, keep)
    finally:
        await consumer.stop()
    return latest


class PolicyFollower:
    """Reads the policy topic from the beginning and applies each valid record to the holder."""

    def __init__(self, settings: Settings, holder: PolicyHolder,
                 on_change: Callable[[Mode, PolicyBook | None], None], on_invalid: Callable[[str], None]) -> None:
        self.settings, self.holder = settings, holder
        self.on_change, self.on_invalid = on_change, on_invalid
        self._consumer: Any = None

    async def start(self) -> None:
        self._consumer = await _open_at_beginning(self.settings)

    async def catch_up(self) -> None:
        """Apply everything already on the topic (called before the first listing is decided)."""
        await _read_to_end(self._consumer, self.apply)

    async def poll(self, timeout_ms: int = 500) -> None:
        for records in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            for record in records:
                self.apply(record.value)

    def apply(self, value: bytes | None) -> None:
        try:
            mode, book = parse_message(value)
        except Exception as exc:  # noqa: BLE001 - PolicyError, or an include that cannot be read here
            log.warning("ignored an invalid policy record: %s", exc)
            self.on_invalid(str(exc))
            return
        if mode == "live" and book is not None:
            self.holder.live = book
        elif mode == "shadow":
            self.holder.shadow = book
        self.on_change(mode, book)

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
