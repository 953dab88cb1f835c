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
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.policy.files import PolicyError, policy_from_text
from stream_filter.kafka.clients import client_options
from stream_filter.kafka.publish import publish
from stream_filter.kafka.reading import read_to_end
from stream_filter.kafka.topics import ensure_policy_topic
from stream_filter.settings import Settings

log = logging.getLogger("stream_filter.kafka.policy_feed")
Mode = Literal["live", "shadow"]


class PolicyMessage(BaseModel):
    schema_version: Literal[1] = 1
    mode: Mode
    policy: str  # YAML text; "" clears the shadow
    published_at: datetime


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


async def publish_policy(settings: Settings, mode: Mode, text: str, *more: tuple[Mode, str]) -> None:
    """Publish a policy text per mode (an empty text clears that mode), validated first, all records
    with one producer and in the order given."""
    changes = [(mode, text), *more]
    for _, each in changes:
        if each.strip():
            policy_from_text(each, "policy to publish")  # never publish what a worker would refuse
    await ensure_policy_topic(settings)
    now = datetime.now(UTC)
    await publish(settings, [(m.encode(), PolicyMessage(mode=m, policy=t, published_at=now).model_dump_json().encode())
                             for m, t in changes], settings.topic_policy)


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
        await read_to_end(consumer, consumer.assignment(), lambda _, record: keep(record.value))
    finally:
        await consumer.stop()
    return latest


class PolicyFollower:
    """Reads the policy topic from the beginning and applies each valid record to the holder."""

    def __init__(self, settings: Settings, holder: PolicyHolder,
                 on_change: Callable[[Mode, PolicyBook | None], None], on_invalid: Callable[[str], None]) -> None:
        self.settings, self.holder = settings, holder
        self.on_change, self.on_invalid = on_change, on_invalid
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = await _open_at_beginning(self.settings)

    def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the policy follower is not started")
        return self._consumer

    async def catch_up(self) -> None:
        """Apply everything already on the topic (called before the first listing is decided)."""
        consumer = self._started()
        await read_to_end(consumer, consumer.assignment(), lambda _, record: self.apply(record.value))

    async def poll(self, timeout_ms: int = 500) -> None:
        for records in (await self._started().getmany(timeout_ms=timeout_ms)).values():
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
