"""The worker's murmur2 against aiokafka's, which its producers use to place keyed records."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from stream_filter.kafka.partitioning import murmur2, partition_for


def test_same_hash_and_partition_as_aiokafka() -> None:
    rng = random.Random(13)
    partitioner = DefaultPartitioner()
    for _ in range(5000):
        key = rng.randbytes(rng.randint(0, 40))
        assert murmur2(key) == aiokafka_murmur2(key), key
        count = rng.randint(1, 64)
        every = list(range(count))
        assert partition_for(key, count) == partitioner(key, every, every), key

