"""RocksDB stores: every partition's memtables in one budget, counted in the shared block cache."""

from __future__ import annotations

import os
from pathlib import Path

from stream_filter.state.stores import BLOCK_CACHE_BYTES, MEMTABLE_BYTES, StoreFactory


def test_partitions_share_one_memtable_budget_in_the_cache(tmp_path: Path) -> None:
    factory = StoreFactory(tmp_path, disk=True)
    stores = [factory.open(p) for p in range(4)]
    try:
        for i in range(3_000):  # 24 MB of states: alone, four partitions would keep up to 32 MB of memtables
            for store in stores:
                store.write([(f"listing-{i}".encode(), os.urandom(2_000))])
        assert factory.memtables.enabled() and factory.memtables.get_buffer_size() == MEMTABLE_BYTES
        assert factory.memtables.get_usage() <= MEMTABLE_BYTES * 1.5
        assert factory.cache.get_usage() >= factory.memtables.get_usage()  # counted in the cache
        assert factory.cache.get_usage() <= BLOCK_CACHE_BYTES * 1.25
        assert stores[3].get(b"listing-2999") is not None and stores[0].get(b"listing-0") is not None
    finally:
        for store in stores:
            store.close()  # type: ignore[attr-defined]
