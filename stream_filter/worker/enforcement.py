"""Retroactive enforcement: when the live policy changes, decide every active listing again.

Why: a tightened rule that only applied to new events would leave already-approved cross-border
listings of a newly blocked cluster live for months. A pass walks the listings of the partitions
this worker owns (each worker its own), in chunks; a listing whose outcome changes gets a new
decision on its new topic and a removal record on its old one (`lifecycle.reevaluate`), and its
state is updated after those are acknowledged. Listings already decided under the policy in force
are skipped, so a pass that a crash or rebalance cut short resumes where it stopped; what it sent
twice carries the same decision_id.

A listing another classifier read (the worker started with a new model or new lexicon files) is
read again from its stored event, once (`lifecycle.reevaluate`): a new classifier reaches the whole
catalogue in the first pass after a rolling update, paced like a policy change.

A listing whose review verdict expired is decided again on its own (`expire`), between a pass's
chunks or alone, never by restarting a pass. A pass requested and not completed within 3x the last
completed pass's duration (an hour before any) is late: a metric, an alert and a `/readyz` reason.

A pass runs when the live policy changes and when partitions are assigned (their previous owner
may have stopped mid-pass); a full pass (no listing skipped) when the Jakarta day changes, since
effective dates, exemptions and FX rates depend on the day. Chunks share the decision loops' lock, so a
chunk and a batch of events never interleave: events keep flowing between chunks. While partitions
are being revoked no chunk starts (`pause`), so no late write reaches a partition's new owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from time import monotonic, perf_counter

from stream_filter.core.batch import Pair, put_within
from stream_filter.core.classify.classifier import Classifier, default_classifier
from stream_filter.core.lifecycle import reevaluate
from stream_filter.core.policy.book import PolicyHolder
from stream_filter.core.policy.day import today
from stream_filter.kafka.reading import Pace, no_pause
from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.review_queue import ReviewQueue

log = logging.getLogger("stream_filter.worker.enforcement")
CHUNK = 500
SETTLE_S = 0.2
RETRY_S = 10.0
DAY_CHECK_S = 60.0
LATE_FACTOR, LATE_MIN_S, LATE_FIRST_S = 3.0, 60.0, 3600.0  # when a pass requested is late (`Enforcer.late`)


@dataclass(frozen=True)
class StateSource:
    """Where a re-evaluation record comes from, for a dead letter should the broker refuse it: the
    listing's state on its changelog partition (a `SourceRecord` not read from a topic: no offset)."""

    topic: str
    partition: int
    key: bytes | None
    offset: int | None = None
    value: bytes | None = None


class Enforcer:
    def __init__(self, states: ListingStates, holder: PolicyHolder, deliverer: Deliverer, metrics: Metrics,
                 lock: asyncio.Lock, owned: Callable[[], set[int]], load: Callable[[set[int]], Awaitable[None]],
                 busy: Callable[[], bool], max_output_bytes: int = 1_000_000,
                 pace: Pace = no_pause,
                 review: ReviewQueue | None = None, classifier: Classifier | None = None) -> None:
        self.states, self.holder, self.deliverer, self.metrics = states, holder, deliverer, metrics
        self.lock, self.owned, self.load, self.busy, self.pace = lock, owned, load, busy, pace
        self.max_output_bytes = max_output_bytes
        self.review = review or ReviewQueue()  # told every state a pass reads and every change it makes
        self.classifier = classifier or default_classifier()  # listings another one read are read again
        self.wanted = asyncio.Event()  # a pass is requested
        self.work = asyncio.Event()  # a pass is requested, or listings wait to be decided again (targets)
        self.targets: set[tuple[int, bytes]] = set()  # (partition, listing key) whose verdict expired
        self.full = False
        self.paused = False
        self.day = today()
        self.requested_at: float | None = None  # monotonic: a pass requested and not completed since then
        self.last_duration: float | None = None  # of the last completed pass

    def request(self, full: bool = False) -> None:
        """Ask for a pass; `full` decides every listing again even if its policy version is current
        (a new Jakarta day: effective dates, exemptions and FX validity may have changed)."""
        self.full = self.full or full
        if self.requested_at is None:
            self.requested_at = monotonic()
        self.wanted.set()
        self.work.set()

    def expire(self, listings: Iterable[tuple[int, str]]) -> None:
        """Listings whose verdict expired: decided again on their own, between the chunks of a pass in
        progress, which goes on (a request would restart it: with expiries more frequent than a
        pass lasts, no pass would ever complete)."""
        self.targets.update((partition, listing_id.encode()) for partition, listing_id in listings)
        self.work.set()

    def late(self, now: float | None = None) -> tuple[float, str | None]:
        """How long the pass requested has waited to complete (0: none waiting), and why that is too
        long: over 3x the last completed pass's duration (at least a minute), or an hour before any."""
        if self.requested_at is None:
            return 0.0, None
        waited = (now if now is not None else monotonic()) - self.requested_at
        limit = max(LATE_FACTOR * self.last_duration, LATE_MIN_S) if self.last_duration is not None else LATE_FIRST_S
        if waited <= limit:
            return waited, None
        return waited, (f"re-evaluation pass requested {waited:.0f} s ago has not completed (limit {limit:.0f} s): "
                        f"policy changes and day passes are not reaching every listing")

    def pause(self) -> None:
        """Partitions are being revoked (called under the lock): no chunk may start until reassigned."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.request()  # the previous owner of a partition may have stopped mid-pass

    async def run(self) -> None:
        """The app task: expired listings first, then one pass per request (requests during a pass
        restart it; expiries do not); a failed pass or step is tried again after a pause."""
        while True:
            await self.work.wait()
            self.work.clear()
            try:
                await self.decide_targets()
                if self.wanted.is_set():
                    await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the traceback (DEBUG only) may hold listing content
                log.warning("re-evaluation failed (%s); retrying", type(exc).__name__)
                log.debug("re-evaluation failure", exc_info=True)
                await asyncio.sleep(RETRY_S)
                self.work.set()

    async def decide_targets(self) -> None:
        """Decide again the listings whose verdict expired, a chunk at a time under the lock. Paused
        (revoked): they wait; the pass that follows the next assignment reads every state anyway."""
        while self.targets and not self.paused:
            await self._settle()
            keys = sorted(self.targets)[:CHUNK]
            async with self.lock:
                if self.paused:
                    return
                self.targets.difference_update(keys)
                await self._chunk(keys, full=False, walk=False)
            self.metrics.reevaluation_expired.inc(len(keys))

    async def follow_days(self) -> None:
        """The app task that starts a full pass when the policy day (Jakarta) changes."""
        while True:
            await asyncio.sleep(DAY_CHECK_S)
            day = today()
            if day != self.day:
                self.day = day
                self.request(full=True)

    async def _settle(self) -> None:
        while self.busy():  # rebalancing or restoring the table: the owned set is not known yet  # noqa: ASYNC110
            await asyncio.sleep(SETTLE_S)

    async def run_pass(self) -> None:
        """One pass over the owned listings. A pass that does not finish (restarted by a new request,
        paused by a rebalance, failed) leaves its `full` request for the next one: a day pass is
        never lost."""
        self.wanted.clear()
        full, self.full = self.full, False
        finished = False
        try:
            finished = await self._pass(full)
        finally:
            if not finished:
                self.full = self.full or full
            elif not self.wanted.is_set():  # nothing asked for since: no pass is waiting
                self.requested_at = None

    async def _pass(self, full: bool) -> bool:
        await self._settle()
        if self.paused:  # revoked, or shutting down: the next assignment requests a pass
            return False
        started = perf_counter()
        await self.load(self.owned())  # outside the lock: a long load does not hold the batches
        owned = self.owned()
        pending, active = self.states.held_count(owned), 0
        self.review.walk_starts(owned)
        for keys in self.states.chunks(owned, CHUNK, walked=self.review.walk_ends):
            await self.decide_targets()  # expiries between chunks: the pass goes on
            if self.wanted.is_set():
                log.info("re-evaluation restarts: policy or assignment changed")
                return False
            await self._settle()
            chunk_started = perf_counter()
            async with self.lock:
                if self.paused or self.wanted.is_set():  # revoked or reassigned meanwhile: the keys are stale
                    return False
                active += await self._chunk(keys, full)
            pending -= len(keys)
            self.metrics.reevaluation_pending.set(max(0, pending))
            await self.pace(perf_counter() - chunk_started)  # room for the loops' batches (Worker.pace)
        self.metrics.reevaluation_pending.set(0)
        self.metrics.active_listings.set(active)
        self.metrics.reevaluation_passes.inc()
        self.last_duration = perf_counter() - started
        self.metrics.reevaluation_seconds.set(self.last_duration)
        log.info("re-evaluation pass over %d active listings took %.1f s", active, self.last_duration)
        return True

    async def _chunk(self, keys: list[tuple[int, bytes]], full: bool, walk: bool = True) -> int:
        """Decide these listings again. `walk`: they are a pass's walk (the review queue counts them),
        not listings picked out (expired verdicts)."""
        book, owned, now = self.holder.live, self.owned(), datetime.now(UTC)
        outputs: list[Pair] = []
        changelog: list[Pair] = []
        active = 0
        view = self.states.view((partition, key.decode()) for partition, key in keys)  # one read per partition
        for partition, key in keys:
            try:  # one bad state must not stop the pass (nor leave the chunk half applied)
                state = view.get(key.decode(), partition)
                if state is None or state.partition not in owned or not self.states.belongs(partition, key):
                    if walk:
                        self.review.walked(partition, key, None)
                    continue
                active += 1
                if walk:
                    self.review.walked(partition, key, state)
                step = reevaluate(state, book, now, force=full, classifier=self.classifier)
            except LookupError:  # its partition was dropped meanwhile (revoked, or a failed write)
                if walk:
                    self.review.walk_lost(partition)
                continue
            except Exception as exc:  # noqa: BLE001 - counted and skipped; the listing keeps its state
                self.metrics.reevaluation_errors.inc()
                log.warning("re-evaluation of a listing on partition %d failed: %s", partition, type(exc).__name__)
                log.debug("the listing: %r", key)  # ids stay below DEBUG
                continue
            if step is None:
                continue
            self.metrics.reevaluated.inc()
            if step.state is None:  # decided again, outcome unchanged
                continue
            if not step.records:  # read again by a new classifier, outcome unchanged: the state notes it
                noted = view.put(state.listing_id, state.partition, step.state)
                changelog.append((noted, StateSource(self.states.topic, state.partition, key)))
                continue
            record, size = put_within(view, state.listing_id, state.partition, step.state, state, step.records,
                                      self.max_output_bytes)
            if record is None:  # outputs and state must agree: neither goes
                self.metrics.reevaluation_errors.inc()
                log.warning("re-evaluation of a listing skipped: a record would be %d bytes", size)
                continue
            self.metrics.reevaluation_changes.labels(state.outcome.value, step.state.outcome.value).inc()
            self.review.changed(partition, state.listing_id, state, step.state)
            source = StateSource(self.states.topic, state.partition, key)
            outputs += [(r, source) for r in step.records]
            changelog.append((record, source))
        view.flush()
        await self.deliverer.deliver_reevaluated(outputs, changelog)
        return active
