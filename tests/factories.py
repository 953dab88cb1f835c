"""Test factories in one place: listing events, and in-memory stand-ins for the core's edges
(`core/ports.py`): input records and listing states.

The fakes let unit tests of the batch decider and re-evaluation run without a broker or RocksDB,
the way faststream swaps in a fake producer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from stream_filter.core.batch import BatchDecider
from stream_filter.core.classify.classifier import Classifier, load_classifier
from stream_filter.core.classify.lexicon import DATA_FILES
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.listing_state import ListingState, state_record
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.route import Routed

if TYPE_CHECKING:  # the state layer imports Kafka clients: the core's tests need not load them
    from stream_filter.state.listing_states import ListingStates


def event_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1, "event_id": "ev-1", "event_type": "listing.created",
        "occurred_at": "2026-11-01T10:00:00Z", "listing_id": "L-1", "title": "Kaos Polos Cotton Combed 30s",
    }
    base.update(overrides)
    return base


def event(**overrides: Any) -> ListingEvent:
    return ListingEvent.model_validate(event_dict(**overrides))


@dataclass
class Msg:
    """An input record (a `SourceRecord`)."""

    key: bytes | None = b"k"
    value: bytes | None = b"original"
    partition: int = 1
    offset: int | None = 7
    topic: str = "listings.new"


def listing_msg(listing_id: str, partition: int, offset: int, **fields: Any) -> Msg:
    body = event_dict(listing_id=listing_id, event_id=f"ev-{listing_id}-{offset}", **fields)
    return Msg(listing_id.encode(), orjson.dumps(body), partition, offset)


@dataclass
class MemoryStates:
    """Listing states by partition, as dicts; `view` opens a `StateView` over the loaded partitions
    (a partition not in `partitions` cannot be read, one in `broken` cannot be written)."""

    partitions: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    broken: set[int] = field(default_factory=set)

    def view(self, wanted: Iterable[tuple[int, str]]) -> MemoryView:
        return MemoryView(self)

    def get(self, listing_id: str, partition: int) -> ListingState | None:
        data = self.partitions.get(partition, {}).get(listing_id.encode())
        return ListingState.from_bytes(data) if data is not None else None


@dataclass
class MemoryView:
    states: MemoryStates
    written: dict[tuple[int, bytes], bytes | None] = field(default_factory=dict)

    def get(self, listing_id: str, partition: int) -> ListingState | None:
        if partition not in self.states.partitions:
            raise LookupError(partition)
        key = (partition, listing_id.encode())
        data = self.written[key] if key in self.written else self.states.partitions[partition].get(key[1])
        return ListingState.from_bytes(data) if data is not None else None

    def put(self, listing_id: str, partition: int, state: ListingState | None) -> Routed:
        record = state_record(listing_id, partition, state)
        self.written[(partition, listing_id.encode())] = record.value
        return record

    def flush(self) -> list[int]:
        failed = sorted({p for p, _ in self.written} & self.states.broken)
        for (partition, key), value in self.written.items():
            if partition in failed:
                continue
            target = self.states.partitions[partition]
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        for partition in failed:
            self.states.partitions.pop(partition, None)
        self.written.clear()
        return failed


@dataclass
class RecordingTopic:
    """An output topic (`OutputTopic`) that fails with the queued errors first, then accepts and keeps
    what it accepted."""

    errors: list[BaseException] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    on_send: Callable[[bytes | None], object] | None = None  # sees every accepted value, across topics

    async def send(self, **record: Any) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(record)
        if self.on_send is not None:
            self.on_send(record["value"])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def policy_text(version: str, clusters: str = "textile_fashion", *, policy_id: str = "t", start: str = "2021-01-01",
                until: str | None = None, code: str = "CLUSTER_BLOCKED_CROSS_BORDER", verb: str = "blocked") -> str:
    """A policy file closing `clusters` (comma-separated) to cross-border sellers: the one tests use."""
    ends = f"effective_until: {until}\n" if until else ""
    return (f'id: {policy_id}\nversion: "{version}"\neffective_from: {start}\n{ends}blocked_clusters:\n'
            f'  - clusters: [{clusters}]\n'
            f'    reason: {{code: {code}, legal_basis: test, message: "{{cluster}} {verb}"}}\n')


def decider(policy: str = "default") -> BatchDecider:
    """The batch decider as the worker builds it, on a policy pack."""
    return BatchDecider(PolicyHolder(PolicyBook.load(policy)), max_value_bytes=1_048_576, clock="event",
                        max_age=None, dedupe_window=100_000)


UNCERTAIN = {"title": "Kaos Polos Cotton Combed 30s"}  # no origin fields: unknown origin, textile -> review


def in_review(states: MemoryStates, listing_id: str = "L-1",
              listing_fields: dict[str, Any] | None = None) -> tuple[ListingState, list[Routed]]:
    """A listing the default policy sends to review, on partition 0: its state and what was sent."""
    decided = decider().decide([listing_msg(listing_id, 0, 0, **UNCERTAIN, **(listing_fields or {}))], states.view)
    state = states.get(listing_id, 0)
    assert state is not None and state.outcome is Outcome.REVIEW
    return state, [routed for routed, _ in decided.outputs]


def verdict_body(listing_id: str, decision_id: str, verdict: str = "approved", **fields: Any) -> bytes:
    """A ReviewVerdict record's value (fields override, and may break it on purpose)."""
    body = {"verdict_id": f"v-{listing_id}", "listing_id": listing_id, "decision_id": decision_id,
            "verdict": verdict, "reviewer_id": "rev-7", "reason_code": "LOCAL_SELLER_CONFIRMED",
            "note": "NIB checked", "reviewed_at": "2026-11-02T08:00:00Z", **fields}
    return orjson.dumps(body, default=str)


def verdict_msg(listing_id: str, decision_id: str, offset: int, verdict: str = "approved", **fields: Any) -> Msg:
    """A ReviewVerdict record on partition 0 of the verdict topic."""
    value = verdict_body(listing_id, decision_id, verdict, verdict_id=f"v-{listing_id}-{offset}", **fields)
    return Msg(listing_id.encode(), value, 0, offset, "listings.review-verdicts")


def held_keys(states: ListingStates, partitions: Iterable[int]) -> list[tuple[int, bytes]]:
    """Every listing key the states hold for these partitions, walked as a pass walks them."""
    return [pair for chunk in states.chunks(partitions, 1000) for pair in chunk]


NEW_WORD = "zirvakon"  # a word no shipped data file knows: `garment_classifier` makes it a garment


def data_copy(directory: Path, name: str, line: str | None) -> Path:
    """A copy of the packaged classifier data files with one line added to `name` (None: an exact copy)."""
    directory.mkdir(parents=True, exist_ok=True)
    packaged = resources.files("stream_filter.core.classify") / "data"
    for file in DATA_FILES:
        (directory / file).write_bytes((packaged / file).read_bytes())
    if line is not None:
        with (directory / name).open("a", encoding="utf-8") as out:
            out.write(line + "\n")
    return directory


def garment_classifier(directory: Path) -> Classifier:
    """Another classifier: no model, and the packaged lexicon that also names NEW_WORD a garment."""
    return load_classifier("none", data_copy(directory / "garment", "lexicon.tsv", f"{NEW_WORD}\ttextile_fashion\t3.0"))
