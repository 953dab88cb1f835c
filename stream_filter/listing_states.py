"""The latest state of every active listing, in a Faust table backed by its changelog topic.

Why a Faust table: Faust restores a table from its changelog before the agent decides anything on
a newly assigned partition, so a worker that takes over partitions (crash, scale-out) knows their
listings. The store is RocksDB (rocksdict) when installed, memory otherwise.

Why the changelog is written here and not by `table[key] = value`: Faust sends table changes with
`send_soon` and nothing waits for them before offsets are committed. Instead the store is written
directly and the changelog record is returned as a `Routed`, which the worker delivers with the
batch's other records, acknowledged before the batch's offsets become committable. Faust's stores
find a key's partition through "the current event"; `_on_partition` provides one, which also lets
the re-evaluation task (outside any event) read and write.
"""

from __future__ import annotations

import contextlib
import importlib.util
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import faust
from faust.streams import _current_event

from stream_filter.lifecycle import ListingState
from stream_filter.pipeline import Output, Routed
from stream_filter.settings import Settings


def store_url(settings: Settings) -> str:
    if settings.state_store == "memory":
        return "memory://"
    return "rocksdb://" if importlib.util.find_spec("rocksdict") is not None else "memory://"


@dataclass(frozen=True)
class _Message:
    topic: str
    partition: int


class _Anchor:
    """Stands in for Faust's current event: its stores ask it only for message.topic/.partition."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


@contextlib.contextmanager
def _on_partition(topic: str, partition: int) -> Iterator[None]:
    anchor = _Anchor(topic, partition)
    token = _current_event.set(weakref.ref(anchor))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


class ListingStates:
    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.topic = settings.topic_input
        self.table: Any = app.Table("listing-state", key_type=bytes, value_type=bytes,
                                    partitions=settings.topic_partitions,
                                    help="Latest state of each active listing (lifecycle.ListingState).")

    @property
    def changelog(self) -> Any:
        return self.table.changelog_topic

    def get(self, listing_id: str, partition: int) -> ListingState | None:
        with _on_partition(self.topic, partition):
            data = self.table.data.get(listing_id.encode())
        return ListingState.from_bytes(data) if data is not None else None

    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed:
        """Write the store now; return the changelog record (a tombstone for None) to deliver."""
        key = listing_id.encode()
        value = state.to_bytes() if state is not None else None
        with _on_partition(self.topic, partition):
            if value is None:
                self.table.data.pop(key, None)
            else:
                self.table.data[key] = value
        return Routed(Output.STATE, key, value, [], partition=partition)

    def keys(self) -> list[bytes]:
        """A snapshot of the keys held (owned partitions, and standby copies with the memory store)."""
        return list(self.table.data.keys())

    def get_key(self, key: bytes) -> ListingState | None:
        """Look a key up across the partitions held (the re-evaluation pass does not know its partition)."""
        data = self.table.data.get(key)
        return ListingState.from_bytes(data) if data is not None else None
