"""The Faust wiring: two decision loops that read raw bytes in batches and wait for delivery.

Why it looks like this (each line closes a known Faust trap):
- raw bytes: a typed topic drops undecodable records before anything sees them;
- batches from the consumer (`intake.py`): Faust's consumer puts each fetched partition's records
  in an intake, and a loop takes them in batches, instead of one Message, Event and ack per record
  (Faust's per-record path was this worker's ceiling: docs/performance.md);
- the batch decider never raises: every failure becomes a dead-letter record instead;
- delivery before commit: a batch's records are acknowledged to Faust's committer only after every
  output is acknowledged by the broker (acks=all, `delivery.py`);
- one loop per topic, one batch at a time under the lock: per-partition order as agent concurrency
  1 gave it (faust-streaming can lose or reorder messages with concurrency > 1, #606);
- at-least-once, not exactly_once (unreliable with aiokafka, #517/#323): a replay after a crash
  yields the same decision_id, so consumers drop duplicates by it.

`Worker` holds the parts and names each job: the decision loops, the policy follower, the
re-evaluation tasks, the lag timer, the rebalance callbacks and the web pages. Faust only calls them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from stream_filter import __version__
from stream_filter.core.batch import BatchDecider, DecidedBatch
from stream_filter.core.classify.classifier import default_classifier
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.ports import OutputTopic, SourceRecord
from stream_filter.core.route import Output
from stream_filter.core.verdict_auth import VerdictAuth
from stream_filter.kafka.clients import client_options
from stream_filter.kafka.policy_feed import Mode, PolicyFollower
from stream_filter.kafka.reading import end_offsets
from stream_filter.kafka.record_batches import RecordBatches
from stream_filter.kafka.topics import write_problem
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.enforcement import Enforcer
from stream_filter.worker.faust_options import faust_options
from stream_filter.worker.intake import Intake
from stream_filter.worker.lag import LagProbe
from stream_filter.worker.lookup import ListingLookup
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.output_health import Blocked, OutputHealth
from stream_filter.worker.pages import add_pages
from stream_filter.worker.producer_topic import ProducerTopic
from stream_filter.worker.readiness import Readiness
from stream_filter.worker.review_queue import ReviewQueue
from stream_filter.worker.reviewer_keys import ReviewerKeyDir
from stream_filter.worker.schema_wait import SchemaWait, registry_input
from stream_filter.worker.shutdown import EXIT_BATCH_ABANDONED, EXIT_OUTPUT_BLOCKED, hard_exit
from stream_filter.worker.state_loading import StateLoader
from stream_filter.worker.transport import App

log = logging.getLogger("stream_filter.worker")
POLICY_RETRY_S = 10.0
POLICY_CATCH_UP_S = 30.0  # past this, decide with the current policy rather than stall
SEAL_TIMEOUT_S = 5.0  # asking the changelog's end at shutdown: a broker that does not answer must not hold it


def _revoked(intake: Intake, generation: int) -> bool:
    """Whether the records taken under `generation` were dropped since (their partitions revoked)."""
    return intake.generation != generation


class Worker:
    def __init__(self, settings: Settings, book: PolicyBook, registry: CollectorRegistry | None = None,
                 output_frames: Mapping[Output, bytes] | None = None) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.classifier = default_classifier()  # the configured model (cli/online.py) and the packaged data
        self.metrics = Metrics(self.registry, __version__, self.classifier.version)
        self.metrics.set_policies(book)
        self.app = App(settings.app_id, fetch_max_wait_ms=settings.fetch_max_wait_ms, **faust_options(settings))
        self.holder = PolicyHolder(book)
        self.policy_ready = asyncio.Event()
        self.follower = PolicyFollower(settings, self.holder, self.policy_changed,
                                       self.policy_refused, on_valid=self.policy_taken)
        self.states = ListingStates(settings)
        topics = {Output(kind): ProducerTopic(self.app, name) for kind, name in settings.output_topics().items()}
        topics[Output.SHADOW_DIFF] = ProducerTopic(self.app, settings.topic_shadow_diff)
        topics[Output.STATE] = ProducerTopic(self.app, settings.topic_state())  # created compacted by ensure_topics
        outputs: dict[Output, OutputTopic] = dict(topics)
        options = {**client_options(settings), "metadata_max_age_ms": int(settings.metadata_max_age_s * 1000)}
        names = {kind: t.name for kind, t in topics.items()}
        self.batches = RecordBatches(options, names, output_frames or {})
        self.readiness = Readiness(OutputHealth(), settings.stall_after_s, unloaded=self.states.unloaded)
        self.deliverer = Deliverer(outputs, self.metrics, self.batches,  # per record via `outputs` after a failure
                                   frames=output_frames or {},
                                   names=names, health=self.readiness.outputs,
                                   probe=lambda topic: write_problem(settings, topic),
                                   exit_after_s=settings.output_blocked_exit_s, on_blocked=self.exit_blocked)
        self.lock = asyncio.Lock()  # batches (of events, of verdicts) and re-evaluation chunks never interleave
        self.review = ReviewQueue()
        self.listings, self.verdicts = Intake(), Intake()  # fed by the consumer: transport.py
        self.stopping = False  # set at shutdown, under the lock, before the states are sealed
        self.loader = StateLoader(self.states, self.deliverer, self.lock, self.readiness)
        self.enforcer = Enforcer(self.states, self.holder, self.deliverer, self.metrics, self.lock, self.owned,
                                 self.loader.prepare,
                                 busy=lambda: bool(self.app.rebalancing or not self.policy_ready.is_set()),
                                 max_output_bytes=settings.max_output_bytes, review=self.review,
                                 pace=self.pace, classifier=self.classifier)
        max_age = timedelta(seconds=settings.max_event_age_s) if settings.max_event_age_s else None
        keys = ReviewerKeyDir(Path(settings.reviewer_keys)) if settings.reviewer_keys else None
        self.auth = VerdictAuth(settings.app_id, keys or (lambda: None))
        if keys is None:
            log.warning("review verdicts are not checked: anyone who can write %s can approve a listing in review "
                        "(set STREAM_FILTER_REVIEWER_KEYS)", settings.topic_review_verdicts)
        self.schema_registry, framing = registry_input(settings)
        self.schema_wait = SchemaWait(self.schema_registry, framing, self.readiness, self.metrics,
                                      lambda: self.stopping) if self.schema_registry is not None else None
        self.decider = BatchDecider(self.holder, max_value_bytes=settings.max_value_bytes,
                                    clock=settings.policy_clock, max_age=max_age,
                                    dedupe_window=settings.dedupe_window,
                                    max_output_bytes=settings.max_output_bytes, classifier=self.classifier,
                                    auth=self.auth, framing=framing)
        self.states.pace = self.pace  # a partition's states load while the others' batches go on
        self.lag_probe = LagProbe(settings)
        self.lookup = ListingLookup(settings, self.states,
                                    self.app.assignor.external_topics_metadata,  # type: ignore[attr-defined]
                                    lambda: self.app.http_client)
        self._wire()

    def _wire(self) -> None:
        app, settings = self.app, self.settings
        for name, intake in ((settings.topic_input, self.listings), (settings.topic_review_verdicts, self.verdicts)):
            # subscribed through Faust's conductor (its assignor co-partitions the two: docs/contracts.md), read
            # through the intakes: no agent, no per-record event
            app.topics.add(app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                                     value_serializer="raw", partitions=settings.topic_partitions))
            app.consumer.intakes[name] = intake  # type: ignore[attr-defined]  # transport.py's consumer
        app.task(self.decide_listings)
        app.task(self.apply_verdicts)
        app.task(self.follow_policy)
        app.task(self.enforcer.run)  # retroactive enforcement on live policy changes
        app.task(self.enforcer.follow_days)
        app.timer(interval=settings.lag_interval_s)(self.measure_lag)
        app.timer(interval=1.0)(self.heartbeat)
        app.on_partitions_assigned.connect(self.on_partitions_assigned)  # type: ignore[arg-type]  # mode's stub is narrower
        app.on_partitions_revoked.connect(self.on_partitions_revoked)  # type: ignore[arg-type]
        app.on_rebalance_complete.connect(self.on_rebalance_complete)  # type: ignore[arg-type]
        app.on_before_shutdown.connect(self.on_before_shutdown)  # type: ignore[arg-type]
        add_pages(app, self.registry, self.readiness, self.holder, self.lookup, self.classifier.version, self.auth,
                  settings.policy_verify_key is not None)

    async def pace(self, seconds: float) -> None:
        """Between a long job's steps (a re-evaluation chunk, a poll of a state load): while events
        are arriving, pause as long as the step took, so the job takes at most half the event loop;
        a bare yield let a fetched batch reach the loop two events at a time, and the kept
        partitions waited for the whole load or pass."""
        await asyncio.sleep(seconds if self.readiness.flowing() else 0)

    def owned(self) -> set[int]:
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.settings.topic_input}

    async def decide_listings(self) -> None:
        """The loop of listing events."""
        await self._batches(self.listings, self._decide_listings, self.metrics.decided,
                            self.schema_wait.known if self.schema_wait is not None else None)

    def _decide_listings(self, records: Sequence[SourceRecord], view: Any) -> DecidedBatch:
        """Where the records are tells how the producers place keys (learnt under `auto`; else checked)."""
        partitioner = self.states.partitioner
        disagreed = partitioner.disagreed
        partitioner.observe(((r.key, r.partition) for r in records), self.states.count)
        self.metrics.input_partition_disagreements.inc(partitioner.disagreed - disagreed)
        return self.decider.decide(records, view)

    async def apply_verdicts(self) -> None:
        """The loop of review verdicts: a verdict's partition is its listing's (co-partitioned topics)."""
        await self._batches(self.verdicts, self.decider.decide_verdicts, self.metrics.verdicts_decided)

    async def _batches(self, intake: Intake, decide: Callable[[Sequence[SourceRecord], Any], DecidedBatch],
                       tally: Callable[[DecidedBatch, int], None],
                       known: Callable[[Sequence[SourceRecord], Callable[[], bool]], Awaitable[bool]] | None = None
                       ) -> None:
        """One batch at a time, under the lock; its records are acknowledged after delivery. `tally`:
        the batch's metrics; `known`: waits until the writer schemas the batch needs are known."""
        await self.policy_ready.wait()
        while True:
            records = await intake.take(self.settings.batch_max, self.settings.batch_within_s)
            taken_in = intake.generation  # read with the records: no await in between
            if known is not None and not await known(records, functools.partial(_revoked, intake, taken_in)):
                if self.stopping:
                    return  # the next owner reads them again
                continue  # revoked while waiting: their next reader decides them
            async with self.lock:
                if self.stopping:  # the states are sealed: what is left is read again at the next start
                    return
                if intake.generation != taken_in or not records:
                    continue  # partitions revoked meanwhile: their next owner reads them
                try:
                    await self.loader.load({r.partition for r in records})
                    decided = decide(records, self.states.view)
                    self.count(decided, len(records), tally)
                    await self.deliverer.deliver_decided(decided.outputs, decided.changelog)
                    self.app.consumer.acknowledge(records)  # type: ignore[attr-defined]  # transport.py
                    self.readiness.progressed()
                except asyncio.CancelledError:  # shutdown.py: the next owner replays a batch cut off here
                    hard_exit(EXIT_BATCH_ABANDONED, "stopped in the middle of a batch; exiting before it could be "
                              "acknowledged: the next owner of its partitions replays it")
                    raise

    def exit_blocked(self, blocked: Blocked) -> None:
        hard_exit(EXIT_OUTPUT_BLOCKED, f"cannot write to {blocked.topic} for {self.settings.output_blocked_exit_s:.0f}"
                  f" s ({blocked.error}); exiting so that the orchestrator restarts and alerts. The batch in "
                  "flight was not acknowledged: it is replayed once the topic can be written")

    def count(self, decided: DecidedBatch, records: int, tally: Callable[[DecidedBatch, int], None]) -> None:
        """The batch's metrics and the review queue."""
        try:  # bookkeeping only: a failure here must not end the decision loop
            tally(decided, records)
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("metrics failed: %s", type(exc).__name__)
        for (partition, listing_id), state in decided.states.items():
            try:  # the next pass puts a count right that missed a change
                self.review.changed(partition, listing_id, decided.before.get((partition, listing_id)), state)
            except Exception as exc:  # noqa: BLE001 - see above
                log.warning("review count failed: %s", type(exc).__name__)

    async def follow_policy(self) -> None:
        """Apply what the policy topic holds before the first decision, then follow it. If the topic
        cannot be read, decide with the current policy rather than stall, and keep trying."""
        while True:
            try:
                await self.follower.start()
                await asyncio.wait_for(self.follower.catch_up(), POLICY_CATCH_UP_S)
                self.readiness.policy_caught_up = True
                self.policy_ready.set()
                await self.follower.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the policy feed must never stop the listings
                self.readiness.policy_caught_up = False
                log.warning("policy topic unavailable (%s); keeping the current policy, retrying",
                            type(exc).__name__)
                self.policy_ready.set()
                await self.follower.stop()
                await asyncio.sleep(POLICY_RETRY_S)

    def policy_refused(self, why: str) -> None:
        self.metrics.policy_invalid.inc()
        self.readiness.policy_refused = why

    def policy_taken(self) -> None:
        self.readiness.policy_refused = None  # a later record was taken: the refusal is history

    def policy_changed(self, mode: Mode, changed: PolicyBook | None) -> None:
        self.metrics.policy_updates.labels(mode).inc()
        if mode == "live":
            self.enforcer.request()
        self.metrics.set_policies(self.holder.live, self.holder.shadow)
        refs = [f"{r.id}@{r.version}" for r in changed.describe()] if changed else ["none"]
        log.info("%s policy now %s", mode, ", ".join(refs))

    async def heartbeat(self) -> None:
        self.readiness.tick()
        if expired := self.review.expired():  # verdicts in force expired: just those listings are decided again
            self.enforcer.expire(expired)
        waited, why = self.enforcer.late()
        self.metrics.reevaluation_waiting.set(waited)
        self.metrics.reevaluation_late.set(1 if why else 0)
        self.readiness.reevaluation_late = why

    async def measure_lag(self) -> None:
        try:
            lags = await self.lag_probe.measure()
            for partition, lag in lags.items():
                self.metrics.lag.labels(str(partition)).set(lag)
            owned = self.owned()
            self.readiness.waiting = sum(lag for partition, lag in lags.items() if partition in owned)
            self.metrics.review_listings.set(self.review.count())
            self.metrics.review_oldest.set(self.review.oldest_age_seconds())
        except Exception as exc:  # noqa: BLE001 - a failed probe must never stop the worker
            self.metrics.lag_errors.inc()
            log.warning("lag probe failed: %s", type(exc).__name__)

    async def on_partitions_assigned(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", ())
        self.metrics.rebalances.inc()
        mine = {tp.partition for tp in assigned if tp.topic == self.settings.topic_input}
        self.metrics.assigned.set(len(mine))
        self.states.assigned(mine)
        self.review.keep(mine)
        self.enforcer.resume()

    async def on_rebalance_complete(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust sends this before it resumes fetching after a rebalance: partitions whose listing
        states must be loaded stay unfetched until they are (`worker/state_loading.py`)."""
        self.loader.hold_unloaded(self.app.consumer,  # type: ignore[arg-type]  # transport.py's consumer
                                  {self.settings.topic_input, self.settings.topic_review_verdicts})

    async def on_partitions_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust awaits this before giving partitions up: wait for the batch or re-evaluation chunk in
        flight, let no chunk start until the new assignment, drop the records waiting in the intakes
        and commit what was acknowledged. Faust has already dropped the revoked partitions' acked
        offsets before this runs (its consumer forgets them at revocation), so what this commit does
        not cover is read again by the next owner: extra replays, which decision ids make harmless,
        never a loss."""
        async with self.lock:
            await self._drop_waiting()
            try:  # the batch just acknowledged: committed now, or the next owner replays it (harmless);
                # force_commit, not commit: commit returns without committing while another one runs
                await self.app.consumer.force_commit()  # type: ignore[attr-defined]  # Faust's Consumer has it
            except Exception as exc:  # noqa: BLE001 - see above
                log.warning("offsets not committed at revocation (%s): the next owner replays them",
                            type(exc).__name__)

    async def _drop_waiting(self) -> None:
        """Under the lock, when partitions go (revoked, or the worker stops): no re-evaluation chunk
        starts, and the records waiting in the intakes are dropped. Faust seeks back to the committed
        offsets after a rebalance, and a start reads from them: whoever reads the partitions next
        reads these records again."""
        self.enforcer.pause()
        dropped = await self.listings.drop() + await self.verdicts.drop()
        if dropped:
            log.info("%d fetched records left for the partitions' next reader", dropped)

    async def on_before_shutdown(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Seal the listing states (with no batch in flight: under the lock), so that the next start on
        this data dir goes on from the changelog offsets they hold; then stop the senders. The
        re-evaluation pass stops with them (its next chunk would find its partitions gone)."""
        async with self.lock:
            self.stopping = True  # no batch after the seal
            await self._drop_waiting()
            try:
                ends = await asyncio.wait_for(end_offsets(self.settings, self.states.topic, self.states.held()),
                                              SEAL_TIMEOUT_S)
                self.states.seal(ends)
                log.info("listing states of partitions %s sealed at changelog offsets %s", sorted(ends), ends)
            except Exception as exc:  # noqa: BLE001 - unsealed stores are only restored from the beginning
                log.warning("listing states not sealed (%s): the next start restores them in full",
                            type(exc).__name__)
        await self.batches.stop()
        await self.lag_probe.close()
        if self.schema_registry is not None:
            await self.schema_registry.close()
