"""Which partition a key lands on, by the partitioners producers use: murmur2 (Java clients,
aiokafka: the worker's own outputs), CRC32 (librdkafka's `consistent` and `consistent_random`:
confluent-kafka for Python, Go and .NET, node-rdkafka, kcat) and FNV-1a (Sarama, Go). Which one the
ingest pipeline uses is the input's business (`input_partitioner.py`).

Why a copy of murmur2: a re-evaluation pass asks it of every active listing, and aiokafka's
(`aiokafka.partitioner.murmur2`, pure Python) masks after every step; this one reads the 4-byte
blocks with `struct` and masks once per multiplication. `tests/unit/kafka/test_partitioning.py`
checks it against aiokafka's on random keys.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned 32-bit value."""
    length = len(data)
    h = _SEED ^ length
    blocks = length // 4
    for k in struct.unpack_from(f"<{blocks}I", data) if blocks else ():
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        rest = data[blocks * 4:]
        if tail == 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h ^= rest[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, count: int) -> int:
    """murmur2, as Java clients and aiokafka place a key."""
    return (murmur2(key) & 0x7FFFFFFF) % count


def crc32_partition(key: bytes, count: int) -> int:
    """librdkafka's `consistent` (and `consistent_random` for a key): CRC-32 of the key, mod the count."""
    return zlib.crc32(key) % count


_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def fnv1a_partition(key: bytes, count: int) -> int:
    """Sarama's hash partitioner: FNV-1a 32, read as a signed int32, Go's remainder, its absolute value."""
    h = _FNV_OFFSET
    for byte in key:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return abs(signed) % count


PARTITIONERS: dict[str, Callable[[bytes, int], int]] = {
    "murmur2": partition_for, "crc32": crc32_partition, "fnv1a": fnv1a_partition}
