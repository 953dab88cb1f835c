"""Which partition a listing's key lands on: the producers' default partitioner (murmur2), so the
worker agrees with the ingest pipeline and with its own producers."""

from __future__ import annotations

from functools import cache

from aiokafka.partitioner import DefaultPartitioner

_partitioner = DefaultPartitioner()


@cache
def _all(count: int) -> list[int]:
    return list(range(count))


def partition_for(key: bytes, count: int) -> int:
    every = _all(count)
    return int(_partitioner(key, every, every))
