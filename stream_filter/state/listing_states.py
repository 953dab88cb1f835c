"""The latest state of every active listing on the partitions this worker owns, and its changelog.

Why the worker keeps it: `core/lifecycle.py` needs a listing's previous outcome (to withdraw it from
that topic) and its content (to decide it again when the live policy changes).

Why not a Faust table: with one, Faust's table recovery pauses and resumes the input partitions at
every rebalance, and in the kill/restart test an input partition stayed unconsumed after a restart
(lag stuck, worker idle). The state here is loaded by the agent itself before it decides a batch:
a partition's changelog is read to its end the first time the worker sees the partition
(`restore.py`), and dropped when it is revoked, so Faust's consumer is never paused. Changelog
records are delivered with the batch's decisions, acknowledged before the batch's offsets are
committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from stream_filter.core.listing_state import ListingState
from stream_filter.core.ports import PartitionStore
from stream_filter.settings import Settings
from stream_filter.state.batch_view import BatchView
from stream_filter.state.restore import restore
from stream_filter.state.stores import StoreFactory, rocksdb_available

log = logging.getLogger("stream_filter.state")


class ListingStates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic_state()
        self.disk = settings.state_store == "auto" and rocksdb_available()
        # per app id: two deployments sharing a data dir must not open the same RocksDB files
        self.stores = StoreFactory(Path(settings.data_dir) / settings.app_id / "listing-state", self.disk)
        self._parts: dict[int, PartitionStore] = {}
        self._owned: set[int] | None = None  # None until the first assignment: keep what is loaded
        self._loading = asyncio.Lock()  # the agent and the re-evaluation pass may both ask

    def open(self, partition: int) -> PartitionStore:
        """Hold an empty store for the partition (what loading does before reading the changelog)."""
        self.forget([partition])
        store = self._parts[partition] = self.stores.open(partition)
        return store

    def store(self, partition: int) -> PartitionStore:
        """A loaded partition's store (KeyError if it is not loaded)."""
        return self._parts[partition]

    async def load(self, partitions: Iterable[int]) -> None:
        """Read the changelog of the partitions not held yet, up to its current end."""
        async with self._loading:
            wanted = sorted(set(partitions) - set(self._parts))
            if not wanted:
                return
            stores = {p: self.stores.open(p) for p in wanted}
            count = await restore(self.settings, self.topic, stores)
            for partition, store in stores.items():  # a partition revoked meanwhile is not kept: it may go stale
                if self._owned is None or partition in self._owned:
                    self._parts[partition] = store
                else:
                    store.close()
            log.info("listing state of partitions %s loaded: %d changelog records", wanted, count)

    def assigned(self, partitions: Iterable[int]) -> None:
        """The new assignment: drop the partitions no longer owned (another worker owns them now and
        loads them from the changelog; should one come back, it is loaded again, up to date)."""
        self._owned = set(partitions)
        self.forget(set(self._parts) - self._owned)

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in list(partitions):
            store = self._parts.pop(partition, None)
            try:
                if store is not None:
                    store.close()
            except Exception as exc:  # noqa: BLE001 - closing a broken store; it is dropped all the same
                log.warning("listing state of partition %d not closed: %s", partition, type(exc).__name__)

    def view(self, wanted: Iterable[tuple[int, str]]) -> BatchView:
        """A batch's view of the states of (partition, listing id) pairs: read now, written on flush."""
        return BatchView(self.store, self.forget, wanted)

    def keys(self, partitions: Iterable[int]) -> list[tuple[int, bytes]]:
        """A snapshot of the listing keys held for these partitions (a pass walks it in chunks)."""
        return [(p, key) for p in sorted(set(partitions) & set(self._parts)) for key in self._parts[p].keys()]

    def get_key(self, partition: int, key: bytes) -> ListingState | None:
        store = self._parts.get(partition)
        data = store.get(key) if store is not None else None
        return ListingState.from_bytes(data) if data is not None else None
