"""A batch's view of the listing states: read at once before the batch is decided, written at
once after. See `BatchStates`; `listing_states.py` holds the maps and their changelog.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from stream_filter.lifecycle import ListingState
from stream_filter.listing_states import ListingStates, state_record, write
from stream_filter.pipeline import Routed

log = logging.getLogger("stream_filter.state")


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
                part = states.part(partition)
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
        data = self._values[where] if where in self._values else self._states.part(partition).get(where[1])
        return ListingState.from_bytes(data) if data is not None else None

    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed:
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
                write(self._states.part(partition), changes)
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
