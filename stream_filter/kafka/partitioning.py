"""Which partition a listing's key lands on: the producers' default partitioner (murmur2), so the
worker agrees with the ingest pipeline and with its own producers.

Why a copy of murmur2: a re-evaluation pass asks it of every active listing, and aiokafka's
(`aiokafka.partitioner.murmur2`, pure Python) masks after every step; this one reads the 4-byte
blocks with `struct` and masks once per multiplication. `tests/unit/kafka/test_partitioning.py`
checks it against aiokafka's on random keys.
"""

from __future__ import annotations

import struct

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
    return (murmur2(key) & 0x7FFFFFFF) % count
