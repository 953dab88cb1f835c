"""The latest state of every active listing on the partitions this worker owns, and its changelog.

Why the worker keeps it: `lifecycle.py` needs a listing's previous outcome (to withdraw it from
that topic) and its content (to decide it again when the live policy changes).

Why not a Faust table: with one, Faust's table recovery pauses and resumes the input partitions at
every rebalance, and in the kill/restart test an input partition stayed unconsumed after a restart
(lag stuck, worker idle). The state here is loaded by the agent itself before it decides a batch:
a partition's changelog (a compacted topic, co-partitioned with the input, keyed by listing id) is
read to its end the first time the worker sees the partition, and dropped when it is revoked, so
Faust's consumer is never paused. Changelog records are delivered with the batch's decisions,
acknowledged before the batch's offsets are committed. Each partition's map lives on disk
(rocksdict, a RocksDB binding) when it is installed, in memory otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_filter.kafka_io import client_options
from stream_filter.lifecycle import ListingState
from stream_filter.pipeline import Output, Routed
from stream_filter.settings import Settings

log = logging.getLogger("stream_filter.state")
STATE_WRITE_BUFFER_BYTES = 4 * 1024 * 1024
STATE_BLOCK_CACHE_BYTES = 16 * 1024 * 1024  # one cache for every partition's blocks, indexes and filters


def uses_rocksdict(settings: Settings) -> bool:
    return settings.state_store == "auto" and importlib.util.find_spec("rocksdict") is not None


def _delete(mapping: MutableMapping[bytes, bytes], key: bytes) -> None:
    try:
        del mapping[key]
    except KeyError:
        pass


class ListingStates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic_state()
        self.disk = uses_rocksdict(settings)
        self.root = Path(settings.data_dir) / "listing-state"
        self._parts: dict[int, MutableMapping[bytes, bytes]] = {}
        self._owned: set[int] | None = None  # None until the first assignment: keep what is loaded
        self._loading = asyncio.Lock()  # the agent and the re-evaluation pass may both ask
        self._cache: Any = None  # rocksdict's block cache, made with the first partition

    def _open(self, partition: int) -> MutableMapping[bytes, bytes]:
        if not self.disk:
            return {}
        from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteOptions

        options = Options()  # RocksDB's 64 MB memtable per partition would dominate the worker's RSS
        options.set_write_buffer_size(STATE_WRITE_BUFFER_BYTES)
        options.set_max_write_buffer_number(2)
        # Index and filter blocks live in one bounded cache: left on the heap (RocksDB's default) they
        # grow with the data, ~170 bytes per listing (1,000,000 listings: 189 MB -> 85 MB). The bloom
        # filter keeps the lookup of a new listing (most events) off the disk.
        self._cache = self._cache or Cache(STATE_BLOCK_CACHE_BYTES)
        table = BlockBasedOptions()
        table.set_block_cache(self._cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        path = self.root / str(partition)
        shutil.rmtree(path, ignore_errors=True)  # the changelog is the truth: start empty
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Rdict(str(path), options)
        no_wal = WriteOptions()
        # rebuilt from the changelog at every open: no log needed (put 8.6 -> 3.4 us). A property at run
        # time; the stub calls it a method
        no_wal.disable_wal = True  # type: ignore[method-assign,assignment]
        db.set_write_options(no_wal)
        return db  # type: ignore[return-value]  # dict-like

    def loaded(self) -> set[int]:
        return set(self._parts)

    async def load(self, partitions: Iterable[int]) -> None:
        """Read the changelog of the partitions not held yet, up to its current end."""
        async with self._loading:
            await self._load(sorted(set(partitions) - set(self._parts)))

    async def _load(self, wanted: list[int]) -> None:
        if not wanted:
            return
        consumer = AIOKafkaConsumer(**client_options(self.settings), group_id=None, enable_auto_commit=False,
                                    max_partition_fetch_bytes=8_388_608)
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in wanted]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            maps = {tp.partition: self._open(tp.partition) for tp in tps}
            count = 0
            for tp in tps:
                target = maps[tp.partition]
                while await consumer.position(tp) < ends[tp]:
                    for records in (await consumer.getmany(tp, timeout_ms=500, max_records=5000)).values():
                        for record in records:
                            if record.offset >= ends[tp] or record.key is None:
                                continue
                            if record.value is None:
                                _delete(target, record.key)
                            else:
                                target[record.key] = record.value
                            count += 1
            for partition, part in maps.items():  # a partition revoked meanwhile is not kept: it may go stale
                if self._owned is None or partition in self._owned:
                    self._parts[partition] = part
            log.info("listing state of partitions %s loaded: %d changelog records", wanted, count)
        finally:
            await consumer.stop()

    def assigned(self, partitions: Iterable[int]) -> None:
        """The new assignment: drop the partitions no longer owned (another worker owns them now and
        loads them from the changelog; should one come back, it is loaded again, up to date)."""
        self._owned = set(partitions)
        self.forget(set(self._parts) - self._owned)

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in list(partitions):
            part = self._parts.pop(partition, None)
            close = getattr(part, "close", None)
            if close is not None:
                close()

    def batch(self, wanted: Iterable[tuple[int, str]]) -> BatchStates:
        """The states of a batch's listings, read at once (see `BatchStates`)."""
        return BatchStates(self, wanted)

    def get(self, listing_id: str, partition: int) -> ListingState | None:
        data = self._parts[partition].get(listing_id.encode())
        return ListingState.from_bytes(data) if data is not None else None

    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed:
        """Write the map now; return the changelog record (a tombstone for None) to deliver."""
        key = listing_id.encode()
        part = self._parts[partition]
        if state is None:
            _delete(part, key)
            return Routed(Output.STATE, key, None, [], partition=partition)
        value = state.to_bytes()
        part[key] = value
        return Routed(Output.STATE, key, value, [], partition=partition)

    def keys(self, partitions: Iterable[int]) -> list[tuple[int, bytes]]:
        """A snapshot of the listing keys held for these partitions (a pass walks it in chunks)."""
        return [(p, key) for p in sorted(set(partitions) & set(self._parts)) for key in list(self._parts[p].keys())]

    def get_key(self, partition: int, key: bytes) -> ListingState | None:
        part = self._parts.get(partition)
        data = part.get(key) if part is not None else None
        return ListingState.from_bytes(data) if data is not None else None


class BatchStates:
    """A batch's view of the listing states: one multi-get per partition before the batch is
    decided, one write batch per partition after (`flush`), the batch's own writes seen in between.

    Why: every rocksdict call releases the GIL, and Faust's consumer thread takes it each time, so
    two calls per event cost the worker far more than they cost alone; two per partition and batch
    do not. The changelog records `put` returns are the same as `ListingStates.put` gives.
    Failures stay with their partition: one that cannot be read fails its own events' `get` (they
    are decided without state, as before); one that cannot be written is forgotten, so it is loaded
    again from the changelog, which receives this batch's records all the same (the changelog is the
    truth, the map its copy).
    """

    def __init__(self, states: ListingStates, wanted: Iterable[tuple[int, str]]) -> None:
        self._states = states
        by_partition: dict[int, list[bytes]] = {}
        for partition, listing_id in set(wanted):
            by_partition.setdefault(partition, []).append(listing_id.encode())
        self._values: dict[tuple[int, bytes], bytes | None] = {}
        self._unreadable: set[int] = set()
        for partition, keys in by_partition.items():
            try:
                part = states._parts[partition]
                found = part.get(keys) if states.disk else [part.get(key) for key in keys]  # type: ignore[call-overload]
            except Exception as exc:  # noqa: BLE001 - see the class docstring
                log.warning("listing state of partition %d not read: %s", partition, type(exc).__name__)
                self._unreadable.add(partition)
                continue
            self._values.update(((partition, key), value) for key, value in zip(keys, found, strict=True))
        self._written: dict[tuple[int, bytes], bytes | None] = {}

    def get(self, listing_id: str, partition: int) -> ListingState | None:
        if partition in self._unreadable:
            raise LookupError(f"the listing state of partition {partition} could not be read")
        where = (partition, listing_id.encode())
        data = self._values[where] if where in self._values else self._states._parts[partition].get(where[1])
        return ListingState.from_bytes(data) if data is not None else None

    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed:
        key = listing_id.encode()
        value = state.to_bytes() if state is not None else None
        self._values[(partition, key)] = self._written[(partition, key)] = value
        return Routed(Output.STATE, key, value, [], partition=partition)

    def flush(self) -> list[int]:
        """Write what the batch changed, one write batch per partition; the partitions that could not
        be written are forgotten and returned. Never raises."""
        by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for (partition, key), value in self._written.items():
            by_partition.setdefault(partition, []).append((key, value))
        self._written.clear()
        failed = []
        for partition, changes in by_partition.items():
            try:
                self._write(self._states._parts[partition], changes)
            except Exception as exc:  # noqa: BLE001 - see the class docstring
                log.warning("listing state of partition %d not written (%s): loading it again from the changelog",
                            partition, type(exc).__name__)
                failed.append(partition)
        for partition in failed:
            try:
                self._states.forget([partition])
            except Exception as exc:  # noqa: BLE001 - closing a broken store; it is dropped all the same
                log.warning("listing state of partition %d not closed: %s", partition, type(exc).__name__)
        return failed

    def _write(self, part: MutableMapping[bytes, bytes], changes: list[tuple[bytes, bytes | None]]) -> None:
        if not self._states.disk:
            for key, value in changes:
                if value is None:
                    _delete(part, key)
                else:
                    part[key] = value
            return
        from rocksdict import WriteBatch

        writes = WriteBatch()
        for key, value in changes:
            if value is None:
                writes.delete(key)
            else:
                writes.put(key, value)
        part.write(writes)  # type: ignore[attr-defined]  # an Rdict
