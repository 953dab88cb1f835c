"""The edges the pure core talks to, as Protocols: implemented by Kafka clients, Faust and RocksDB in
the outer packages, and by plain in-memory fakes in the unit tests.

Why Protocols: the batch decider and the re-evaluation step are the logic that must stay right
through crashes and replays; typed edges let them be tested without a broker, and let a reader see
what they need of the world (a record's coordinates, a state view) without reading the wiring.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stream_filter.core.listing_state import ListingState
    from stream_filter.core.route import Routed


class SourceRecord(Protocol):
    """Where an output record comes from: an input record (Faust's message, aiokafka's record), or
    the state record a re-evaluation decided again. A dead letter carries these coordinates."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int | None: ...  # None: not a record read from a topic (a re-evaluation)
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class StateView(Protocol):
    """A batch's view of the listing states: reads see the batch's own writes; `flush` stores them."""

    def get(self, listing_id: str, partition: int) -> ListingState | None: ...
    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed: ...
    def flush(self) -> list[int]: ...


class PartitionStore(Protocol):
    """One input partition's listing states by listing id (memory or RocksDB)."""

    def get(self, key: bytes) -> bytes | None: ...
    def get_many(self, keys: list[bytes]) -> list[bytes | None]: ...
    def write(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None: ...  # None deletes
    def keys_after(self, after: bytes | None, limit: int) -> list[bytes]: ...  # in key order, `after` excluded
    def count(self) -> int: ...  # how many keys, estimated (RocksDB's own estimate)
    def close(self) -> None: ...
    def seal(self, offset: int) -> None: ...  # close, keeping what is below this changelog offset

    @property
    def resumes_at(self) -> int | None: ...  # a sealed store reopened: the changelog offset to go on from


class OutputTopic(Protocol):
    """Sends one record; the awaitable it returns completes when the broker acknowledged it."""

    async def send(self, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
                   partition: int | None = None) -> Awaitable[object]: ...


class BatchSender(Protocol):
    """Sends many records at once; per record, the error that stopped it (None: acknowledged)."""

    async def send(self, records: Sequence[Routed]) -> list[BaseException | None]: ...
