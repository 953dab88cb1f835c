"""Decide one batch of input records: decisions, withdrawals, shadow diffs and listing states.

Why separate from the Faust wiring: everything here is synchronous (no await between reading a
listing's state and writing it), so a batch is decided as one step, and it is pure: the states come
through a `StateView`, the records through `SourceRecord`s, so it is tested with in-memory fakes.
The worker delivers what this returns (`worker/delivery.py`) and counts its notes (`worker/metrics.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import NamedTuple

from stream_filter.core.classify.classifier import Classifier
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.dedupe import RecentEvents
from stream_filter.core.framing import PLAIN, Framing
from stream_filter.core.lifecycle import advance, apply_verdict, replayed
from stream_filter.core.listing_state import ListingState, Sent
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.policy.day import Clock
from stream_filter.core.ports import SourceRecord, StateView
from stream_filter.core.review import decode_verdict
from stream_filter.core.route import Routed, dead_letter, route
from stream_filter.core.shadow import shadow_diff
from stream_filter.core.verdict_auth import VerdictAuth

log = logging.getLogger("stream_filter.worker")
Pair = tuple[Routed, SourceRecord]  # a record to send, and the record it comes from
OpenView = Callable[[Iterable[tuple[int, str]]], StateView]  # (partition, listing id) pairs -> their states


class Note(NamedTuple):
    """What the metrics need of one decided event (immutable, built in C: one per event)."""

    routed: Routed | None  # None: a replay, sent again from the state (counted as consumed only)
    seconds: float
    age_seconds: float | None


@dataclass
class DecidedBatch:
    outputs: list[Pair] = field(default_factory=list)  # decisions, withdrawals, dead letters, shadow diffs
    changelog: list[Pair] = field(default_factory=list)  # the latest state of each listing the batch changed
    notes: list[Note] = field(default_factory=list)
    withdrawals: list[str] = field(default_factory=list)  # the first reason code of each withdrawal
    shadow_diffs: list[tuple[str, str]] = field(default_factory=list)  # (live outcome, shadow outcome)
    replays: list[bool] = field(default_factory=list)  # per event the state had applied: sent records again?
    states: dict[tuple[int, str], ListingState | None] = field(default_factory=dict)  # the listings it changed
    before: dict[tuple[int, str], ListingState | None] = field(default_factory=dict)  # their states before it
    verdicts: list[tuple[str, float | None]] = field(default_factory=list)  # (outcome or dead-letter code,
    # seconds the listing was in review) per verdict decided


def put_within(states: StateView, listing_id: str, partition: int, state: ListingState | None,
               previous: ListingState | None, records: Sequence[Routed], limit: int) -> tuple[Routed | None, int]:
    """Note the listing's new state, unless it or a record it goes out with is larger than `limit`:
    then the previous state is put back and no record is returned (outputs and state must agree).
    Returns the state record, and the largest size seen."""
    record = states.put(listing_id, partition, state)
    size = max([len(record.value or b""), *(len(r.value or b"") for r in records)])
    if size > limit:
        states.put(listing_id, partition, previous)
        return None, size
    return record, size


class BatchDecider:
    def __init__(self, holder: PolicyHolder, *, max_value_bytes: int, clock: Clock,
                 max_age: timedelta | None, dedupe_window: int, max_output_bytes: int = 1_000_000,
                 classifier: Classifier | None = None, auth: VerdictAuth | None = None,
                 framing: Framing = PLAIN) -> None:
        self.holder, self.max_value_bytes, self.clock, self.max_age = holder, max_value_bytes, clock, max_age
        self.classifier = classifier  # None: the configured one
        self.auth = auth or VerdictAuth("")  # no reviewer keys: verdicts unchecked
        self.max_output_bytes = max_output_bytes
        self.framing = framing  # the edge fetches the writer schemas a batch needs before deciding it
        self.recent = RecentEvents(dedupe_window)

    def decide(self, records: Sequence[SourceRecord], open_view: OpenView) -> DecidedBatch:
        """Never raises: a failure on one event or one partition's state stays with it."""
        live, shadow = self.holder.live, self.holder.shadow  # one policy per batch, even if it changes meanwhile
        out = DecidedBatch()
        keyed = [(rec, _listing_id(rec.key)) for rec in records]  # the key is the listing id (else a dead letter)
        states = _read_states(open_view, keyed)
        sent: dict[tuple[int, str], tuple[Sent, ...]] = {}  # what each listing's events of this batch sent
        changed: dict[tuple[int, str], Pair] = {}  # the last state record per listing
        for rec, lid in keyed:
            started = perf_counter()
            where = (rec.partition, lid or "")
            readable, previous = self._state(states, where)
            routed: Routed | None = None
            if previous is not None and previous.applied(rec.partition, rec.offset):
                # a replay: what was sent the first time, never decided anew (not even as a dead letter)
                emitted = previous.replay(rec.offset or 0)
                out.replays.append(bool(emitted))
            else:
                routed = route(rec.key, rec.value, live, max_value_bytes=self.max_value_bytes,
                               source=(rec.topic, rec.partition, rec.offset), clock=self.clock,
                               max_age=self.max_age, recent=self.recent, classifier=self.classifier,
                               framing=self.framing)
                emitted = [routed]
                try:  # the listing's state: a move or a deletion also withdraws it from its previous topic
                    if routed.decision is not None and states is not None and readable:
                        routed, emitted = self._fold(out, states, where, routed, previous, rec, sent, changed)
                except Exception as exc:  # noqa: BLE001 - state trouble must not lose the decision
                    log.warning("listing state update failed: %s", type(exc).__name__)
            out.outputs += [(r, rec) for r in emitted]
            if rec.offset is not None and lid is not None:
                sent[where] = sent.get(where, ()) + tuple(Sent(rec.offset, r.output, r.value or b"")
                                                          for r in emitted if r.decision is not None)
            try:  # bookkeeping only: a failure here must not escape (Faust would ack the batch)
                self._note(out, routed, emitted, perf_counter() - started)
                if routed is not None and shadow is not None:
                    self._shadow(out, routed, rec, shadow)
            except Exception as exc:  # noqa: BLE001 - see above
                log.warning("metrics or shadow evaluation failed: %s", type(exc).__name__)
        out.changelog = list(changed.values())
        if states is not None:
            states.flush()  # never raises: a partition not written is loaded again from the changelog
        return out

    def decide_verdicts(self, records: Sequence[SourceRecord], open_view: OpenView) -> DecidedBatch:
        """A batch of review verdicts (a batch reads one topic: verdicts never share one with events, so
        a replay of either sends its own batch's records again, in order). Never raises."""
        out = DecidedBatch()
        now = datetime.now(UTC)
        keyed = [(rec, _listing_id(rec.key)) for rec in records]
        states = _read_states(open_view, keyed)
        sent: dict[tuple[int, str], tuple[Sent, ...]] = {}
        changed: dict[tuple[int, str], Pair] = {}
        for rec, lid in keyed:
            source = (rec.topic, rec.partition, rec.offset)
            where = (rec.partition, lid or "")
            try:
                emitted = self._verdict(out, rec, where, states, sent, changed, now)
            except Exception as exc:  # noqa: BLE001 - a bug on one verdict must not stop the stream
                failure = Failure(ErrorCode.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}")
                emitted = [dead_letter(rec.key, rec.value, failure, source)]
            out.outputs += [(r, rec) for r in emitted]
            for r in emitted:
                if r.error is not None:
                    out.verdicts.append((r.error.code.value, None))
        out.changelog = list(changed.values())
        if states is not None:
            states.flush()
        return out

    def _verdict(self, out: DecidedBatch, rec: SourceRecord, where: tuple[int, str], states: StateView | None,
                 sent: dict[tuple[int, str], tuple[Sent, ...]], changed: dict[tuple[int, str], Pair],
                 now: datetime) -> list[Routed]:
        source = (rec.topic, rec.partition, rec.offset)
        verdict = decode_verdict(rec.key, rec.value)
        if isinstance(verdict, Failure):
            return [dead_letter(rec.key, rec.value, verdict, source)]
        if states is None:  # never applied without the listing's state
            raise LookupError("listing states not readable")
        previous = states.get(where[1], where[0])
        if previous is not None and previous.verdict_applied(rec.partition, rec.offset):
            return previous.replay(rec.offset or 0, verdict=True)  # what it sent the first time
        # checked after the replay above: a verdict applied stays applied, even once its key is revoked
        refused = self.auth.check(verdict) or self.auth.noted(replayed(verdict, previous))
        if refused is not None:
            return [dead_letter(rec.key, rec.value, refused, source)]
        step = apply_verdict(verdict, previous, rec.offset, sent.get(where, ()), now)
        if isinstance(step, Failure):
            return [dead_letter(rec.key, rec.value, step, source)]
        record, size = put_within(states, where[1], rec.partition, step.state, previous, step.records,
                                  self.max_output_bytes)
        if record is None:
            return [self._too_large(rec, f"a record of the listing would be {size} bytes")]
        changed.pop(where, None)
        changed[where] = (record, rec)
        out.before.setdefault(where, previous)
        out.states[where] = step.state
        sent[where] = step.state.sent if step.state is not None else ()
        since = step.state.verdict.since if step.state is not None and step.state.verdict else None
        out.verdicts.append((verdict.verdict.value, (now - since).total_seconds() if since else None))
        return step.records

    @staticmethod
    def _state(states: StateView | None, where: tuple[int, str]) -> tuple[bool, ListingState | None]:
        """(readable, the listing's state). An unreadable partition's events are decided without state."""
        if states is None or not where[1]:
            return states is not None, None
        try:
            return True, states.get(where[1], where[0])
        except Exception as exc:  # noqa: BLE001 - see docstring
            log.warning("listing state not read: %s", type(exc).__name__)
            return False, None

    def _fold(self, out: DecidedBatch, states: StateView, where: tuple[int, str], routed: Routed,
              previous: ListingState | None, rec: SourceRecord, sent: dict[tuple[int, str], tuple[Sent, ...]],
              changed: dict[tuple[int, str], Pair]) -> tuple[Routed, list[Routed]]:
        """Fold a decided event into its listing's state; a record or state too large to send makes the
        event a dead letter and leaves the state as it was (outputs and state must agree)."""
        step = advance(routed, previous, rec.partition, rec.offset, sent.get(where, ()))
        record, size = put_within(states, where[1], rec.partition, step.state, previous, step.records,
                                  self.max_output_bytes)
        if record is None:
            dead = self._too_large(rec, f"a record of the listing would be {size} bytes")
            return dead, [dead]
        changed.pop(where, None)  # re-inserted: the changelog keeps the order of last writes
        changed[where] = (record, rec)
        out.before.setdefault(where, previous)
        out.states[where] = step.state
        first = step.records[0].decision if step.records else None
        decided = step.records[0] if first is not None and first.action == "upsert" else routed
        return decided, step.records  # a verdict in force may have changed the event's decision

    def _shadow(self, out: DecidedBatch, routed: Routed, rec: SourceRecord, shadow: PolicyBook) -> None:
        diff = shadow_diff(routed, shadow, self.clock)
        if diff is not None and diff.decision is not None and routed.decision is not None:
            out.shadow_diffs.append((routed.decision.outcome.value, diff.decision.outcome.value))
            out.outputs.append((diff, rec))

    def _too_large(self, rec: SourceRecord, what: str) -> Routed:
        failure = Failure(ErrorCode.OUTPUT_TOO_LARGE, f"{what}, limit {self.max_output_bytes}")
        return dead_letter(rec.key, rec.value, failure, (rec.topic, rec.partition, rec.offset))

    @staticmethod
    def _note(out: DecidedBatch, routed: Routed | None, emitted: list[Routed], seconds: float) -> None:
        """What the metrics need of this event; withdrawals are every removal it sent besides itself."""
        occurred = routed.decoded.event.occurred_at if routed is not None and routed.decoded else None
        age = (datetime.now(UTC) - occurred).total_seconds() if occurred else None
        out.notes.append(Note(routed, seconds, age))
        out.withdrawals += [r.decision.reasons[0].code for r in emitted
                            if r is not routed and r.decision is not None and r.decision.action == "remove"]


def _read_states(open_view: OpenView, keyed: list[tuple[SourceRecord, str | None]]) -> StateView | None:
    """A batch's listing states, read at once; None when they cannot be read (state trouble must not
    lose the batch: events are decided without state, verdicts dead-lettered)."""
    try:
        return open_view((rec.partition, lid) for rec, lid in keyed if lid is not None)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("listing states not read: %s", type(exc).__name__)
        return None


def _listing_id(key: bytes | None) -> str | None:
    try:
        return key.decode() if key else None
    except UnicodeDecodeError:
        return None

