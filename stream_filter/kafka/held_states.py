"""The listing states the workers hold, read from the state changelog as a consumer of the whole
topic would hold it: what the impact preview of a policy change decides again."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.listing_state import ListingState
from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.reading import read_from_start
from stream_filter.kafka.topics import partition_count
from stream_filter.settings import Settings


async def read_held_states(settings: Settings) -> list[ListingState]:
    """The latest state per listing on every changelog partition as of now (tombstones drop it)."""
    topic = settings.topic_state()
    async with admin_client(settings) as admin:
        partitions = range(await partition_count(admin, topic) or 0)
    latest: dict[bytes, bytes] = {}

    def keep(_: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is None:
            return
        if record.value is None:
            latest.pop(record.key, None)
        else:
            latest[record.key] = record.value

    await read_from_start(settings, [TopicPartition(topic, p) for p in partitions], keep)
    return [ListingState.from_bytes(value) for value in latest.values()]
