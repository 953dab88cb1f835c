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

from stream_filter.core.dedupe import RecentEvents
from stream_filter.core.lifecycle import advance
from stream_filter.core.policy.book import PolicyHolder
from stream_filter.core.policy.day import Clock
from stream_filter.core.ports import SourceRecord, StateView
from stream_filter.core.route import Routed, route
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
    changelog: list[Pair] = field(default_factory=list)  # the listing states the batch changed
    notes: list[Note] = field(default_factory=list)
    withdrawals: list[str] = field(default_factory=list)  # the first reason code of each withdrawal
    shadow_diffs: list[tuple[str, str]] = field(default_factory=list)  # (live outcome, shadow outcome)


class BatchDecider:
    def __init__(self, holder: PolicyHolder, *, max_value_bytes: int, clock: Clock,
                 max_age: timedelta | None, dedupe_window: int) -> None:
        self.holder, self.max_value_bytes, self.clock, self.max_age = holder, max_value_bytes, clock, max_age
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
            decided.append((rec, routed, perf_counter() - started))
        try:  # the batch's listing states, read at once
            states: StateView | None = open_view((rec.partition, routed.decision.listing_id)
                                                 for rec, routed, _ in decided if routed.decision is not None)
        except Exception as exc:  # noqa: BLE001 - state trouble must not lose the decisions
            log.warning("listing states not read: %s", type(exc).__name__)
            states = None
        for rec, routed, took in decided:
            started = perf_counter()
            emitted = [routed]
            try:  # the listing's state: a move or a deletion also withdraws it from its previous topic
                if routed.decision is not None and states is not None:
                    listing_id = routed.decision.listing_id
                    step = advance(routed, states.get(listing_id, rec.partition), rec.partition)
                    if step.state is not None or step.remove:
                        out.changelog.append((states.put(listing_id, rec.partition, step.state), rec))
                    emitted = step.records
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
        if states is not None:
            states.flush()  # never raises: a partition not written is loaded again from the changelog
        return out

    @staticmethod
    def _note(out: DecidedBatch, routed: Routed, emitted: list[Routed], seconds: float) -> None:
        occurred = routed.decoded.event.occurred_at if routed.decoded else None
        age = (datetime.now(UTC) - occurred).total_seconds() if occurred else None
        out.notes.append(Note(routed, seconds, age))
        out.withdrawals += [r.decision.reasons[0].code for r in emitted
                            if r is not routed and r.decision is not None and r.decision.action == "remove"]
