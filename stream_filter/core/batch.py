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

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.dedupe import RecentEvents
from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import Sent
from stream_filter.core.policy.book import PolicyHolder
from stream_filter.core.policy.day import Clock
from stream_filter.core.ports import SourceRecord, StateView
from stream_filter.core.route import Routed, dead_letter, route
from stream_filter.core.shadow import shadow_diff

log = logging.getLogger("stream_filter.worker")
Pair = tuple[Routed, SourceRecord]  # a record to send, and the record it comes from
OpenView = Callable[[Iterable[tuple[int, str]]], StateView]  # (partition, listing id) pairs -> their states


@dataclass(frozen=True)
class Note:
    """What the metrics need of one decided event."""

    routed: Routed
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


class BatchDecider:
    def __init__(self, holder: PolicyHolder, *, max_value_bytes: int, clock: Clock,
                 max_age: timedelta | None, dedupe_window: int, max_output_bytes: int = 1_000_000) -> None:
        self.holder, self.max_value_bytes, self.clock, self.max_age = holder, max_value_bytes, clock, max_age
        self.max_output_bytes = max_output_bytes
        self.recent = RecentEvents(dedupe_window)

    def decide(self, records: Sequence[SourceRecord], open_view: OpenView) -> DecidedBatch:
        """Never raises: a failure on one event or one partition's state stays with it."""
        live, shadow = self.holder.live, self.holder.shadow  # one policy per batch, even if it changes meanwhile
        out = DecidedBatch()
        decided = []
        for rec in records:
            started = perf_counter()
            routed = route(rec.key, rec.value, live, max_value_bytes=self.max_value_bytes,
                           source=(rec.topic, rec.partition, rec.offset), clock=self.clock,
                           max_age=self.max_age, recent=self.recent)
            if routed.decision is not None and len(routed.value or b"") > self.max_output_bytes:
                routed = self._too_large(rec, f"the decision is {len(routed.value or b'')} bytes")
            decided.append((rec, routed, perf_counter() - started))
        try:  # the batch's listing states, read at once
            states: StateView | None = open_view((rec.partition, routed.decision.listing_id)
                                                 for rec, routed, _ in decided if routed.decision is not None)
        except Exception as exc:  # noqa: BLE001 - state trouble must not lose the decisions
            log.warning("listing states not read: %s", type(exc).__name__)
            states = None
        sent: dict[tuple[int, str], tuple[Sent, ...]] = {}  # what each listing's events of this batch sent
        changed: dict[tuple[int, str], Pair] = {}  # the last state record per listing
        for rec, routed, took in decided:
            started = perf_counter()
            emitted = [routed]
            try:  # the listing's state: a move or a deletion also withdraws it from its previous topic
                if routed.decision is not None and states is not None:
                    where = (rec.partition, routed.decision.listing_id)
                    earlier = sent.get(where, ())
                    previous = states.get(where[1], rec.partition)
                    step = advance(routed, previous, rec.partition, rec.offset, earlier)
                    if not step.replay and (step.state is not None or step.remove):
                        record = states.put(where[1], rec.partition, step.state)
                        if len(record.value or b"") > self.max_output_bytes:  # outputs and state must agree
                            states.put(where[1], rec.partition, previous)
                            routed = self._too_large(rec, f"its state is {len(record.value or b'')} bytes")
                            step = advance(routed, previous, rec.partition)
                        else:
                            changed.pop(where, None)  # re-inserted: the changelog keeps the order of last writes
                            changed[where] = (record, rec)
                    emitted = step.records
                    if step.replay:
                        out.replays.append(bool(emitted))
                    if rec.offset is not None:
                        sent[where] = earlier + tuple(Sent(rec.offset, r.output, r.value or b"") for r in emitted
                                                      if r.decision is not None)
            except Exception as exc:  # noqa: BLE001 - state trouble must not lose the decision
                log.warning("listing state update failed: %s", type(exc).__name__)
            out.outputs += [(r, rec) for r in emitted]
            try:  # bookkeeping only: a failure here must not escape (Faust would ack the batch)
                self._note(out, routed, emitted, took + perf_counter() - started)
                diff = shadow_diff(routed, shadow, self.clock) if shadow is not None else None
                if diff is not None and diff.decision is not None and routed.decision is not None:
                    out.shadow_diffs.append((routed.decision.outcome.value, diff.decision.outcome.value))
                    out.outputs.append((diff, rec))
            except Exception as exc:  # noqa: BLE001 - see above
                log.warning("shadow evaluation failed: %s", type(exc).__name__)
        out.changelog = list(changed.values())
        if states is not None:
            states.flush()  # never raises: a partition not written is loaded again from the changelog
        return out

    def _too_large(self, rec: SourceRecord, what: str) -> Routed:
        failure = Failure(ErrorCode.OUTPUT_TOO_LARGE, f"{what}, limit {self.max_output_bytes}")
        return dead_letter(rec.key, rec.value, failure, (rec.topic, rec.partition, rec.offset))

    @staticmethod
    def _note(out: DecidedBatch, routed: Routed, emitted: list[Routed], seconds: float) -> None:
        occurred = routed.decoded.event.occurred_at if routed.decoded else None
        age = (datetime.now(UTC) - occurred).total_seconds() if occurred else None
        out.notes.append(Note(routed, seconds, age))
        out.withdrawals += [r.decision.reasons[0].code for r in emitted
                            if r is not routed and r.decision is not None and r.decision.action == "remove"]
