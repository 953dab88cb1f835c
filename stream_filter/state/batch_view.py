"""A batch's view of the listing states: read at once before the batch is decided, written at once
after. `listing_states.py` holds the stores; this view reaches them only through the two callables
it is given (a partition's store, and forgetting a partition).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from stream_filter.core.listing_state import ListingState, state_record
from stream_filter.core.ports import PartitionStore
from stream_filter.core.route import Routed

log = logging.getLogger("stream_filter.state")


class BatchView:
    """One multi-get per partition before the batch is decided, one write batch per partition after
    (`flush`), the batch's own writes seen in between.

    Why: every rocksdict call releases the GIL, and Faust's consumer thread takes it each time, so
    two calls per event cost the worker far more than two per partition and batch.
    Failures stay with their partition: one that cannot be read fails its own events' `get` (they
    are decided without state); one that cannot be written is forgotten, so it is loaded again from
    the changelog, which receives this batch's records all the same (the changelog is the truth, the
    store its copy).
    """

    def __init__(self, store: Callable[[int], PartitionStore], forget: Callable[[list[int]], None],
                 wanted: Iterable[tuple[int, str]]) -> None:
        self._store, self._forget = store, forget
        by_partition: dict[int, list[bytes]] = {}
        for partition, listing_id in set(wanted):
            by_partition.setdefault(partition, []).append(listing_id.encode())
        self._values: dict[tuple[int, bytes], bytes | None] = {}
        self._unreadable: set[int] = set()
        for partition, keys in by_partition.items():
            try:
                found = store(partition).get_many(keys)
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
        data = self._values[where] if where in self._values else self._store(partition).get(where[1])
        return ListingState.from_bytes(data) if data is not None else None

    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed:
        """Note the listing's new state; return its changelog record (a tombstone for None)."""
        key, record = listing_id.encode(), state_record(listing_id, partition, state)
        self._values[(partition, key)] = self._written[(partition, key)] = record.value
        return record

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
                self._store(partition).write(changes)
            except Exception as exc:  # noqa: BLE001 - see the class docstring
                log.warning("listing state of partition %d not written (%s): loading it again from the changelog",
                            partition, type(exc).__name__)
                failed.append(partition)
        self._forget(failed)
        return failed
