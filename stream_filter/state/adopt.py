"""Adopting listing states after input partitions were added.

Why: a listing's events go to the partition its producer's partitioner gives (`input_partitioner.py`); when the
count grows, many listings move to another partition, and their states stay on the changelog
partition of the old one. The worker that loads a partition therefore also reads the partitions
that existed before the last change (`kafka/topics.grow_changelog` keeps their history) and adopts
the states whose listing now belongs to it and that its own partition does not hold yet (a state
written there later is newer). An adopted state is written to its new changelog partition and a
tombstone to its old one, so it is adopted once, and a deletion in the new partition cannot bring
the old copy back once compaction drops the tombstone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.listing_state import ListingState, state_record
from stream_filter.core.ports import PartitionStore
from stream_filter.core.route import Routed
from stream_filter.kafka.partitioning import partition_for
from stream_filter.kafka.reading import read_from_start
from stream_filter.settings import Settings


async def adopt(settings: Settings, stores: Mapping[int, PartitionStore], count: int,
                history: list[int], place: Callable[[bytes, int], int] = partition_for) -> list[Routed]:
    """Adopt into `stores` (partition -> its freshly restored store) the states that belong to them
    under `count` partitions but sit on an older partition; return the changelog records to send
    (the adopted states, then the old copies' tombstones: a crash between loses no state). `place`:
    where the input's producers put a key among n partitions."""
    earlier = [c for c in history[:-1] if c < count]  # an equal count (histories written before a fix) moved nothing
    old = list(range(max(earlier, default=0)))
    if not old:
        return []
    found: dict[tuple[bytes, int], bytes | None] = {}  # (key, old partition) -> the latest value there

    def keep(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is not None and (home := place(record.key, count)) in stores and home != tp.partition:
            found[(record.key, tp.partition)] = record.value

    await read_from_start(settings, [TopicPartition(settings.topic_state(), p) for p in old], keep)
    adopted: list[Routed] = []
    tombstones: list[Routed] = []
    for key in {key for key, _ in found}:
        home = place(key, count)
        for source in (place(key, c) for c in reversed(earlier)):  # its most recent earlier home first
            if (key, source) in found:
                break
        else:
            continue
        value = found[(key, source)]
        if value is None or stores[home].get(key) is not None:  # deleted there, or a newer state at home
            continue
        # offsets are per partition: nothing of the old one is a replay in the new one
        moved = replace(ListingState.from_bytes(value), partition=home, offset=None, sent=(), verdict_offset=None)
        listing_id = key.decode()
        stores[home].write([(key, moved.to_bytes())])
        if source in stores:  # loaded in the same call: its copy goes now, not at its next load
            stores[source].write([(key, None)])
        adopted.append(state_record(listing_id, home, moved))
        tombstones.append(state_record(listing_id, source, None))
    return adopted + tombstones
