"""Which partitioner put the input's keys where they are: set (`STREAM_FILTER_INPUT_PARTITIONER`), or
learnt (`auto`, the default) from where records actually are.

Why: the worker computes a listing's partition from its key to answer lookups, to adopt states after
partitions were added and to skip stale copies in re-evaluation. A producer on librdkafka (CRC32)
places most keys elsewhere than murmur2 says: lookups would miss, adoption would move states to the
wrong partition and a policy change would skip most listings. Under `auto` the partitioner is never
guessed from one record: it is the function that places at least 99% of at least `MIN_KEYS` distinct
keys where they were seen (and the only one that does). Until one does, callers act as if they did
not know (re-evaluation skips nothing; adoption waits; the lookup asks every worker). Records that
disagree with the function in use are counted and logged once, with the setting that fits them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from aiokafka import TopicPartition

from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.partitioning import PARTITIONERS
from stream_filter.kafka.reading import end_offsets, read_from_start
from stream_filter.kafka.topics import partition_count
from stream_filter.settings import Settings

log = logging.getLogger("stream_filter.kafka.input_partitioner")
AUTO = "auto"
MIN_KEYS = 30  # distinct keys seen on more than one partition's worth of choice before deciding
SHARE = 0.99  # of them the function must place where they were seen
KEYS_KEPT = 4096  # distinct keys remembered while learning


class InputPartitioner:
    def __init__(self, setting: str = AUTO) -> None:
        if setting != AUTO and setting not in PARTITIONERS:
            raise ValueError(f"unknown partitioner {setting!r}: auto, {', '.join(PARTITIONERS)}")
        self.setting = setting
        self.name: str | None = None if setting == AUTO else setting
        self.disagreed = 0  # records seen where the function in use would not put them
        self._seen: dict[bytes, tuple[int, int]] = {}  # key -> (partition, count) while learning
        self._next_try: float = MIN_KEYS  # how many keys seen before the next try to decide
        self._told = False

    def partition(self, key: bytes, count: int) -> int | None:
        """The key's partition among `count`, or None while the partitioner is not known."""
        return None if self.name is None else PARTITIONERS[self.name](key, count)

    def placer(self) -> Callable[[bytes, int], int]:
        """The partitioner in use; murmur2 while none is known (only for a caller that places nothing
        then: adoption is refused before it would)."""
        return PARTITIONERS[self.name or "murmur2"]

    def observe(self, records: Iterable[tuple[bytes | None, int]], count: int | None) -> None:
        """Records read from the input (key, partition) while it has `count` partitions."""
        if not count or count < 2:
            return  # one partition says nothing of a partitioner
        for key, partition in records:
            if key is None:
                continue
            if self.name is not None:
                if PARTITIONERS[self.name](key, count) != partition:
                    self._disagree(key, partition, count)
                continue
            if len(self._seen) < KEYS_KEPT:
                self._seen[key] = (partition, count)
        if self.name is None and len(self._seen) >= self._next_try:
            # tried at 30, 60, 120, ... keys: a producer no function explains costs the batches a
            # bounded number of tries, not three hashes per key seen at every batch
            self._next_try = 2 * len(self._seen) if len(self._seen) < KEYS_KEPT else float("inf")
            self._decide()

    def why_unknown(self) -> str | None:
        if self.name is not None:
            return None
        return (f"input partitioner not known yet: {len(self._seen)} of {MIN_KEYS} keys seen "
                f"(set STREAM_FILTER_INPUT_PARTITIONER to murmur2, crc32 or fnv1a to skip learning)")

    def _decide(self) -> None:
        fits = [name for name, place in PARTITIONERS.items()
                if sum(place(k, c) == p for k, (p, c) in self._seen.items()) >= SHARE * len(self._seen)]
        if len(fits) == 1:
            self.name = fits[0]
            log.info("input partitioner: %s (places at least %.0f%% of the %d keys seen where they are)",
                     self.name, SHARE * 100, len(self._seen))
            self._seen.clear()
        elif len(self._seen) >= KEYS_KEPT:
            log.warning("no known partitioner (%s) places the input's keys where they are: lookups ask every "
                        "worker and adoption after a partition change is refused", ", ".join(PARTITIONERS))

    def _disagree(self, key: bytes, partition: int, count: int) -> None:
        self.disagreed += 1
        if self._told:
            return
        self._told = True
        fits = [name for name, place in PARTITIONERS.items() if place(key, count) == partition]
        log.warning("an input record is on partition %d where %s would not put it: %s", partition, self.name,
                    f"STREAM_FILTER_INPUT_PARTITIONER={fits[0]} fits it" if fits else "no known partitioner fits it")


SAMPLE_PER_PARTITION = 200


async def sample_input(settings: Settings, partitions: Iterable[int], per_partition: int = SAMPLE_PER_PARTITION,
                       ) -> list[tuple[bytes | None, int]]:
    """The keys of the latest records of these input partitions, with their partition: evidence of the
    producers' partitioner when no record has arrived since the worker started."""
    tps = [TopicPartition(settings.topic_input, p) for p in partitions]
    if not tps:
        return []
    ends = await end_offsets(settings, settings.topic_input, [tp.partition for tp in tps])
    start = {tp: max(0, ends[tp.partition] - per_partition) for tp in tps}
    seen: list[tuple[bytes | None, int]] = []
    await read_from_start(settings, tps, lambda tp, record: seen.append((record.key, tp.partition)), start=start)
    return seen


async def input_partition(settings: Settings, key: bytes) -> int | None:
    """Where the input's producers put `key` now (the setting, else learnt from the input's latest
    records); None when no partitioner explains them (the caller then partitions by murmur2)."""
    async with admin_client(settings) as admin:
        count = await partition_count(admin, settings.topic_input) or 0
    partitioner = InputPartitioner(settings.input_partitioner)
    if partitioner.name is None and count:
        partitioner.observe(await sample_input(settings, range(count)), count)
    return partitioner.partition(key, count) if count else None
