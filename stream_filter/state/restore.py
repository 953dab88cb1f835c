"""Restoring partitions' listing states from the changelog, recovery kept apart from the stores.

The changelog is a compacted topic, co-partitioned with the input and keyed by listing id; reading a
partition to its current end gives the latest state of every listing on it (a tombstone: none).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.ports import PartitionStore
from stream_filter.kafka.reading import Pace, no_pause, read_from_start
from stream_filter.settings import Settings

WRITE_EVERY = 2000  # changelog records per store write: one RocksDB write batch each, in order


async def restore(settings: Settings, topic: str, stores: Mapping[int, PartitionStore], pace: Pace = no_pause) -> int:
    """Fill each partition's store from its changelog partition, from the beginning or, for a sealed
    store reopened, from the offset it was sealed at; return how many records were read."""
    tps = [TopicPartition(topic, p) for p in sorted(stores)]
    start = {tp: offset for tp in tps if (offset := stores[tp.partition].resumes_at) is not None}

    pending: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in stores}

    def apply(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is not None:
            writes = pending[tp.partition]
            writes.append((record.key, record.value))
            if len(writes) >= WRITE_EVERY:
                stores[tp.partition].write(writes)
                writes.clear()

    count = await read_from_start(settings, tps, apply, start, pace)
    for partition, writes in pending.items():
        if writes:
            stores[partition].write(writes)
    return count
