"""Restoring partitions' listing states from the changelog, recovery kept apart from the stores.

The changelog is a compacted topic, co-partitioned with the input and keyed by listing id; reading a
partition to its current end gives the latest state of every listing on it (a tombstone: none).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.ports import PartitionStore
from stream_filter.kafka.reading import read_from_start
from stream_filter.settings import Settings


async def restore(settings: Settings, topic: str, stores: Mapping[int, PartitionStore]) -> int:
    """Fill each partition's store from its changelog partition, from the beginning or, for a sealed
    store reopened, from the offset it was sealed at; return how many records were read."""
    tps = [TopicPartition(topic, p) for p in sorted(stores)]
    start = {tp: offset for tp in tps if (offset := stores[tp.partition].resumes_at) is not None}

    def apply(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is not None:
            stores[tp.partition].write([(record.key, record.value)])

    return await read_from_start(settings, tps, apply, start)
