"""The listing states the workers hold, read from the state changelog as a consumer of the whole
topic would hold it: what the impact preview of a policy change decides again."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.listing_state import ListingState
from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.input_partitioner import InputPartitioner, sample_input
from stream_filter.kafka.reading import read_from_start
from stream_filter.kafka.topics import partition_count
from stream_filter.settings import Settings


async def read_held_states(settings: Settings) -> list[ListingState]:
    """The latest state per listing as of now (tombstones drop it). After partitions were added a
    listing may have a copy on its old partition too: the one on its current partition wins."""
    topic = settings.topic_state()
    async with admin_client(settings) as admin:
        count = await partition_count(admin, topic) or 0
    partitioner = InputPartitioner(settings.input_partitioner)
    if partitioner.name is None and count:
        partitioner.observe(await sample_input(settings, range(count)), count)
    place = partitioner.placer()  # murmur2 when none explains the input: the latest copy still wins below
    home: dict[bytes, bytes] = {}  # states on the partition their listing belongs to now
    stray: dict[bytes, bytes] = {}  # copies on an older partition (not adopted yet, or stale)

    def keep(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is None:
            return
        held = home if place(record.key, count) == tp.partition else stray
        if record.value is None:
            held.pop(record.key, None)
        else:
            held[record.key] = record.value

    await read_from_start(settings, [TopicPartition(topic, p) for p in range(count)], keep)
    return [ListingState.from_bytes(value) for value in {**stray, **home}.values()]
