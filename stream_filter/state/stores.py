"""The two homes of a partition's listing states: a dict, or a RocksDB database (rocksdict).

Why RocksDB when installed: a worker may hold millions of active listings; on disk they cost the
process a bounded cache instead of their size. Either store is a copy of the changelog, which is
the truth: a store starts empty at every open and is filled from the changelog (`restore.py`).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from sortedcontainers import SortedDict

from stream_filter.core.ports import PartitionStore

WRITE_BUFFER_BYTES = 4 * 1024 * 1024
BLOCK_CACHE_BYTES = 16 * 1024 * 1024  # one cache for every partition's blocks, indexes and filters
MEMTABLE_BYTES = 8 * 1024 * 1024  # every partition's memtables together, counted in that cache
SEAL_KEY = b"\x00sealed-at-changelog-offset"  # present only between a seal and the next open


def rocksdb_available() -> bool:
    return importlib.util.find_spec("rocksdict") is not None


class MemoryStore:
    resumes_at: int | None = None  # nothing survives the process: always restored from the beginning

    def __init__(self) -> None:
        self._data: Any = SortedDict()  # a dict kept in key order: a pass walks keys from where it stopped

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        return [self._data.get(key) for key in keys]

    def write(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        for key, value in changes:
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def keys_after(self, after: bytes | None, limit: int) -> list[bytes]:
        return list(islice(self._data.irange(minimum=after, inclusive=(False, True)), limit))

    def count(self) -> int:
        return len(self._data)

    def close(self) -> None:
        self._data.clear()

    def seal(self, offset: int) -> None:
        self.close()


class RocksStore:
    """One RocksDB database per partition, sharing one block cache and one memtable budget.

    Index and filter blocks live in that bounded cache: left on the heap (RocksDB's default) they
    grow with the data. The memtables of every partition share a budget counted in the same cache
    (a write buffer manager), so RocksDB's memory is about the cache's size however many partitions
    the worker holds; alone, each partition kept up to two 4 MB memtables beside the cache. The
    bloom filter keeps the lookup of a new listing (most events) off the disk. No write-ahead log:
    a database is trusted again only if it was sealed (`seal`: flushed, with the changelog offset it
    holds everything below) and not opened since; then restoring resumes at that offset. Any other
    database is emptied at open and restored from the beginning.
    """

    resumes_at: int | None = None

    def __init__(self, path: Path, cache: Any, resume: bool = False, memtables: Any = None) -> None:
        from rocksdict import BlockBasedOptions, Options, Rdict, WriteOptions

        options = Options()  # RocksDB's 64 MB memtable per partition would dominate the worker's memory
        options.set_write_buffer_size(WRITE_BUFFER_BYTES)
        options.set_max_write_buffer_number(2)
        if memtables is not None:  # one budget for every partition's memtables, charged to the cache
            options.set_write_buffer_manager(memtables)
        table = BlockBasedOptions()
        table.set_block_cache(cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and (path / "CURRENT").exists():
            self._db: Any = Rdict(str(path), options)  # rocksdict's stubs disagree with its run time
            sealed = self._db.get(SEAL_KEY)
            if sealed is not None:
                self._db.delete(SEAL_KEY)  # opened: no longer sealed, should this process die
                self._db.flush()
                self.resumes_at = int(sealed)
            else:
                self._db.close()
        if self.resumes_at is None:
            shutil.rmtree(path, ignore_errors=True)  # the changelog is the truth: start empty
            self._db = Rdict(str(path), options)
        no_wal: Any = WriteOptions()
        no_wal.disable_wal = True  # a property at run time; the stub calls it a method
        self._db.set_write_options(no_wal)

    def get(self, key: bytes) -> bytes | None:
        found: bytes | None = self._db.get(key)
        return found

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        found: list[bytes | None] = self._db.get(keys)  # one multi-get
        return found

    def write(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """One RocksDB write batch."""
        from rocksdict import WriteBatch

        writes = WriteBatch()
        for key, value in changes:
            if value is None:
                writes.delete(key)
            else:
                writes.put(key, value)
        self._db.write(writes)

    def keys_after(self, after: bytes | None, limit: int) -> list[bytes]:
        """A seek and `limit` steps: a pass walks a partition this way, holding one chunk of keys."""
        found = list(islice(self._db.keys(from_key=after), limit + 1)) if after is not None else \
            list(islice(self._db.keys(), limit))
        if after is not None:
            found = found[1:] if found and found[0] == after else found[:limit]
        return found

    def count(self) -> int:
        return int(self._db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def close(self) -> None:
        self._db.close()

    def seal(self, offset: int) -> None:
        """Everything below this changelog offset is here: flushed to disk, kept for the next open."""
        self._db.put(SEAL_KEY, str(offset).encode())
        self._db.flush()
        self._db.close()


class StoreFactory:
    """Opens an empty store per partition: RocksDB under `root` when `disk`, else memory."""

    def __init__(self, root: Path, disk: bool) -> None:
        self.root, self.disk = root, disk
        self.cache: Any = None  # rocksdict's block cache, made with the first partition
        self.memtables: Any = None  # and its write buffer manager: memtables count against the cache

    def open(self, partition: int, resume: bool = False) -> PartitionStore:
        """An empty store, or with `resume` a sealed one as it was (`resumes_at` says where to go on)."""
        if not self.disk:
            return MemoryStore()
        from rocksdict import Cache, WriteBufferManager

        if self.cache is None:
            self.cache = Cache(BLOCK_CACHE_BYTES)
            self.memtables = WriteBufferManager.new_write_buffer_manager_with_cache(MEMTABLE_BYTES, False, self.cache)
        return RocksStore(self.root / str(partition), self.cache, resume, self.memtables)
