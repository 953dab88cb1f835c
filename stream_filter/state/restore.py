"""Restoring partitions' listing states from the changelog, recovery kept apart from the stores.

The changelog is a compacted topic, co-partitioned with the input and keyed by listing id; reading a
partition to its current end gives the latest state of every listing on it (a tombstone: none).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.ports import PartitionStore
from stream_filter.kafka.clients import reader
from stream_filter.kafka.reading import read_to_end
from stream_filter.settings import Settings

FETCH_PARTITION_BYTES = 8_388_608  # restoring reads whole partitions: large fetches, fewer round trips
RESTORE_RECORDS = 5000


async def restore(settings: Settings, topic: str, stores: Mapping[int, PartitionStore]) -> int:
    """Fill each partition's store from its changelog partition, from the beginning or, for a sealed
    store reopened, from the offset it was sealed at; return how many records were read."""
    async with reader(settings, max_partition_fetch_bytes=FETCH_PARTITION_BYTES) as consumer:
        tps = [TopicPartition(topic, p) for p in sorted(stores)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            if (offset := stores[tp.partition].resumes_at) is not None:
                consumer.seek(tp, offset)

        def apply(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
            if record.key is not None:
                stores[tp.partition].write([(record.key, record.value)])

        return await read_to_end(consumer, tps, apply, max_records=RESTORE_RECORDS)
