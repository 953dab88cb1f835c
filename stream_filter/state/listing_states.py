"""The latest state of every active listing on the partitions this worker owns, and its changelog.

Why the worker keeps it: `core/lifecycle.py` needs a listing's previous outcome (to withdraw it from
that topic) and its content (to decide it again when the live policy changes).

Why not a Faust table: with one, Faust's table recovery pauses and resumes the input partitions at
every rebalance, and in the kill/restart test an input partition stayed unconsumed after a restart
(lag stuck, worker idle). The state here is loaded by the decision loop itself before it decides a batch:
a partition's changelog is read to its end the first time the worker sees the partition
(`restore.py`), and dropped when it is revoked, so Faust's consumer is never paused. Changelog
records are delivered with the batch's decisions, acknowledged before the batch's offsets are
committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from stream_filter.core.listing_state import ListingState
from stream_filter.core.ports import PartitionStore
from stream_filter.core.route import Routed
from stream_filter.kafka.input_partitioner import InputPartitioner, sample_input
from stream_filter.kafka.reading import Pace, no_pause
from stream_filter.kafka.topics import grow_changelog
from stream_filter.settings import Settings
from stream_filter.state.adopt import adopt
from stream_filter.state.batch_view import BatchView
from stream_filter.state.restore import restore
from stream_filter.state.stores import StoreFactory, rocksdb_available

log = logging.getLogger("stream_filter.state")


class ListingStates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic_state()
        # per app id: two deployments sharing a data dir must not open the same RocksDB files
        self.stores = StoreFactory(Path(settings.data_dir) / settings.app_id / "listing-state",
                                   settings.state_store == "auto" and rocksdb_available())
        self._parts: dict[int, PartitionStore] = {}
        self._owned: set[int] | None = None  # None until the first assignment: keep what is loaded
        self._loading = asyncio.Lock()  # the agent and the re-evaluation pass may both ask
        self.count: int | None = None  # the input's partition count at the last load
        self.history: list[int] = []  # the changelog's partition counts, oldest first
        self.pending: list[Routed] = []
        self.closed = False  # sealed for shutdown: nothing is loaded again (opening a sealed store unseals it)
        self.pace: Pace = no_pause  # after each poll of a load (the worker's: room for the other partitions)
        self.partitioner = InputPartitioner(settings.input_partitioner)  # how the input's producers place keys

    @property
    def disk(self) -> bool:
        return self.stores.disk

    def open(self, partition: int) -> PartitionStore:
        """Hold an empty store for the partition (what loading does before reading the changelog)."""
        self.forget([partition])
        store = self._parts[partition] = self.stores.open(partition)
        return store

    def store(self, partition: int) -> PartitionStore:
        """A loaded partition's store (KeyError if it is not loaded)."""
        return self._parts[partition]

    async def load(self, partitions: Iterable[int]) -> None:
        """Read the changelog of the partitions not held yet, up to its current end; after a change of
        the input's partition count, adopt the states that moved to them (`adopt.py`). The records
        adopting makes wait in `pending` for the caller to send."""
        partitions = set(partitions)
        if not partitions - set(self._parts) and not self.closed and (self.count is not None or self._loading.locked()):
            return  # all held (a load under way sets the count): never wait behind another partition's load
        async with self._loading:
            if self.closed:
                log.warning("listing states asked for after they were sealed for shutdown: not loaded")
                return
            wanted = sorted(set(partitions) - set(self._parts))
            if self.count is None or (wanted and max(wanted) >= self.count):  # a new assignment, or new partitions
                self.history = await grow_changelog(self.settings)
                self.count = self.history[-1]
            if not wanted:
                return
            earlier = [c for c in self.history[:-1] if c < self.count]
            if self.partitioner.name is None:  # records on partitions made under this count show how keys are placed
                self.partitioner.observe(await sample_input(self.settings, range(max(earlier, default=0), self.count)),
                                         self.count)
            if earlier and self.partitioner.name is None:
                raise LookupError(f"states cannot be adopted after the input grew to {self.count} partitions: "
                                  f"{self.partitioner.why_unknown()}")
            stores = {p: self.stores.open(p, resume=True) for p in wanted}
            resumed = {p: s.resumes_at for p, s in stores.items() if s.resumes_at is not None}
            count = await restore(self.settings, self.topic, stores, self.pace)
            self.pending += await adopt(self.settings, stores, self.count, self.history, self.partitioner.placer())
            for partition, store in stores.items():  # a partition revoked meanwhile is not kept: it may go stale
                if not self.closed and (self._owned is None or partition in self._owned):
                    self._parts[partition] = store
                else:
                    store.close()
            log.info("listing state of partitions %s loaded: %d changelog records%s", wanted, count,
                     f" (sealed stores went on from {resumed})" if resumed else "")

    def unloaded(self) -> list[int] | None:
        """Owned partitions whose states are not held yet (readiness); None before the first assignment."""
        return None if self._owned is None else sorted(self._owned - set(self._parts))

    def held(self) -> list[int]:
        return sorted(self._parts)

    def seal(self, ends: dict[int, int]) -> None:
        """Close the stores of these partitions, kept on disk as holding every changelog record below
        `ends[partition]` (called when no batch is in flight and every state record was acknowledged):
        the next load of the partition reads only what the changelog got after that. Called at
        shutdown: no partition is loaded again in this process."""
        self.closed = True
        for partition, end in ends.items():
            store = self._parts.pop(partition, None)
            if store is not None:
                store.seal(end)

    def take_pending(self) -> list[Routed]:
        """Changelog records that loading made (adopted states and their old copies' tombstones)."""
        pending, self.pending = self.pending, []
        return pending

    def belongs(self, partition: int, key: bytes) -> bool:
        """Whether the listing's events arrive on this partition now (after a partition change, a
        stale copy may still sit on its old one until that is loaded again)."""
        home = self.partitioner.partition(key, self.count) if self.count is not None else None
        return home is None or home == partition  # not known: a copy is decided again rather than skipped

    def assigned(self, partitions: Iterable[int]) -> None:
        """The new assignment: drop the partitions no longer owned (another worker owns them now and
        loads them from the changelog; should one come back, it is loaded again, up to date)."""
        self._owned = set(partitions)
        self.forget(set(self._parts) - self._owned)
        self.count = None  # partitions may have been added: asked again at the next load

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

    def chunks(self, partitions: Iterable[int], size: int, walked: Callable[[int], None] | None = None
               ) -> Iterator[list[tuple[int, bytes]]]:
        """The listing keys held for these partitions, `size` at a time, in key order per partition:
        each chunk read from where the last one ended (one seek), so a pass holds one chunk of keys,
        not a snapshot of all of them. `walked(partition)` is told when a partition's walk found no
        key after its last one (a partition dropped meanwhile ends its walk without it)."""
        for partition in sorted(set(partitions)):
            after: bytes | None = None
            while (store := self._parts.get(partition)) is not None:
                keys = store.keys_after(after, size)
                if not keys:
                    if walked is not None:
                        walked(partition)
                    break
                yield [(partition, key) for key in keys]
                after = keys[-1]

    def held_count(self, partitions: Iterable[int]) -> int:
        """How many listings these partitions hold, estimated."""
        return sum(store.count() for p in set(partitions) if (store := self._parts.get(p)) is not None)

    def get_key(self, partition: int, key: bytes) -> ListingState | None:
        store = self._parts.get(partition)
        data = store.get(key) if store is not None else None
        return ListingState.from_bytes(data) if data is not None else None
