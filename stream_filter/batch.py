"""Decide one batch of input records: decisions, withdrawals, shadow diffs and listing states.

Why separate from the Faust wiring: everything here is synchronous (no await between reading a
listing's state and writing it), so a batch is decided as one step; `app.py` only delivers what
this returns (the state changelog after the decisions when the batch withdraws a listing).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from stream_filter.batch_states import BatchStates
from stream_filter.lifecycle import advance
from stream_filter.listing_states import ListingStates
from stream_filter.metrics import Metrics
from stream_filter.pipeline import Routed, route
from stream_filter.policy_feed import PolicyHolder
from stream_filter.recent import RecentEvents
from stream_filter.settings import Settings
from stream_filter.shadow import shadow_diff

log = logging.getLogger("stream_filter.worker")
Pair = tuple[Routed, Any]  # a record to send, and the input message it comes from


class BatchDecider:
    def __init__(self, settings: Settings, holder: PolicyHolder, states: ListingStates, metrics: Metrics) -> None:
        self.settings, self.holder, self.states, self.metrics = settings, holder, states, metrics
        self.max_age = timedelta(seconds=settings.max_event_age_s) if settings.max_event_age_s else None
        self.recent = RecentEvents(settings.dedupe_window)

    def decide(self, messages: list[Any]) -> tuple[list[Pair], list[Pair]]:
        """(records for the output topics, records for the state changelog). Never raises."""
        live, shadow = self.holder.live, self.holder.shadow  # one policy per batch, even if it changes meanwhile
        batch: list[Pair] = []
        changelog: list[Pair] = []
        counted: list[tuple[Routed, float, float | None]] = []
        decided = []
        for msg in messages:
            started = perf_counter()
            routed = route(msg.key, msg.value, live, max_value_bytes=self.settings.max_value_bytes,
                           source=(msg.topic, msg.partition, msg.offset), clock=self.settings.policy_clock,
                           max_age=self.max_age, recent=self.recent)
            decided.append((msg, routed, perf_counter() - started))
        try:  # the batch's listing states, read at once (BatchStates)
            states = BatchStates(self.states, ((msg.partition, routed.decision.listing_id)
                                               for msg, routed, _ in decided if routed.decision is not None))
        except Exception as exc:  # noqa: BLE001 - state trouble must not lose the decisions (a partition
            # that cannot be read fails only its own events: BatchStates)
            log.warning("listing states not read: %s", type(exc).__name__)
            states = None
        for msg, routed, took in decided:
            started = perf_counter()
            records = [routed]
            try:  # the listing's state: a move or a deletion also withdraws it from its previous topic
                if routed.decision is not None and states is not None:
                    listing_id = routed.decision.listing_id
                    step = advance(routed, states.get(listing_id, msg.partition), msg.partition)
                    if step.state is not None or step.remove:
                        changelog.append((states.put(listing_id, msg.partition, step.state), msg))
                    records = step.records
            except Exception as exc:  # noqa: BLE001 - state trouble must not lose the decision
                log.warning("listing state update failed: %s", type(exc).__name__)
            batch += [(r, msg) for r in records]
            try:  # bookkeeping only: a failure here must not escape (Faust would ack the batch)
                self._count(routed, records, took + perf_counter() - started, counted)
                diff = shadow_diff(routed, shadow, self.settings.policy_clock) if shadow is not None else None
                if diff is not None and diff.decision is not None and routed.decision is not None:
                    self.metrics.shadow_diffs.labels(routed.decision.outcome.value, diff.decision.outcome.value).inc()
                    batch.append((diff, msg))
            except Exception as exc:  # noqa: BLE001 - see above
                log.warning("metrics or shadow evaluation failed: %s", type(exc).__name__)
        if states is not None:
            states.flush()  # never raises: a partition not written is loaded again from the changelog
        try:
            self.metrics.batch_records.observe(len(messages))
            self.metrics.record_batch(counted)
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("metrics failed: %s", type(exc).__name__)
        return batch, changelog

    def _count(self, routed: Routed, records: list[Routed], seconds: float,
               counted: list[tuple[Routed, float, float | None]]) -> None:
        """Note what `Metrics.record_batch` needs of this event first; withdrawals are counted now (rare)."""
        occurred = routed.decoded.event.occurred_at if routed.decoded else None
        counted.append((routed, seconds,
                        (datetime.now(UTC) - occurred).total_seconds() if occurred else None))
        for record in records:
            if record.decision is not None and record.decision.action == "remove" and record is not routed:
                self.metrics.listing_moves.labels(record.decision.reasons[0].code).inc()
