"""The Faust wiring: one agent that reads raw bytes, routes each record, and waits for delivery.

Why it looks like this (each line closes a known Faust trap):
- raw bytes topics: a typed topic drops undecodable records before the agent sees them;
- `route()` never raises: an exception in an agent acks the event silently, so every failure
  becomes a dead-letter record instead;
- batches (`take_events`): every record of a batch is queued, then all acknowledgements are awaited
  (acks=all, `delivery.py`); Faust acks the batch's events (making their offsets committable) only
  after the loop body returns;
- concurrency=1: faust-streaming can lose or reorder messages with agent concurrency > 1 (#606);
- at-least-once, not exactly_once (unreliable with aiokafka, #517/#323): a replay after a crash
  yields the same decision_id, so consumers drop duplicates by it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from stream_filter import __version__
from stream_filter.batch import BatchDecider
from stream_filter.delivery import Deliverer
from stream_filter.enforcement import Enforcer
from stream_filter.kafka_io import client_options
from stream_filter.lag import LagProbe
from stream_filter.listing_states import ListingStates
from stream_filter.metrics import Metrics
from stream_filter.pipeline import Output, Routed
from stream_filter.policy_feed import PolicyFollower, PolicyHolder
from stream_filter.policy_files import PolicyBook
from stream_filter.record_batches import RecordBatches
from stream_filter.settings import Settings

log = logging.getLogger("stream_filter.worker")
POLICY_RETRY_S = 10.0
STATE_RETRY_S = 2.0  # the state changelog could not be read: the batch waits, nothing is acked
POLICY_CATCH_UP_S = 30.0  # past this, decide with the current policy rather than stall


def faust_options(settings: Settings) -> dict[str, Any]:
    """Every Faust setting we rely on, explicit; `env={}` keeps Faust away from os.environ."""
    opts: dict[str, Any] = {
        "env": {},
        "broker": [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap_servers.split(",")],
        "store": "memory://",
        "autodiscover": False,
        "datadir": settings.data_dir,
        "web_enabled": True,
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_in_thread": False,
        "producer_acks": -1,
        "producer_linger": 0.005,  # batches fill while a batch is queued; delivery is awaited per batch
        "producer_max_request_size": 4_194_304,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "topic_allow_declare": True,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.session_timeout_s / 3,
        "broker_commit_every": 1000,
        "consumer_max_fetch_size": settings.fetch_partition_bytes,
        "broker_commit_interval": 1.0,
        "stream_wait_empty": True,
        "worker_redirect_stdouts": False,
        "table_cleanup_interval": 3600.0,
    }
    if settings.security_protocol != "PLAINTEXT":
        from stream_filter.security import faust_credentials

        opts["broker_credentials"] = faust_credentials(settings)
    return opts


class ProducerTopic:
    """An output topic sent through Faust's transport producer: one aiokafka send per record,
    without Topic.send's per-message FutureMessage and callback machinery (about a fifth of the
    worker's CPU). The worker creates every output topic before it starts (`ensure_topics`)."""

    def __init__(self, app: faust.App, name: str) -> None:
        self.app, self.name = app, name

    async def send(self, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
                   partition: int | None = None) -> Any:
        return await self.app.producer.send(self.name, key, value, partition, None, headers)


def withdraws(batch: list[tuple[Routed, Any]]) -> bool:
    """Whether a batch removes a listing from a topic. Only then must its state records wait for its
    decisions: were a state record acknowledged and its withdrawal lost in a crash, the replay would
    read the new state and not withdraw again. Without removals, a replay over a state that is
    already ahead sends the same decisions, with the same ids, so both may go out together."""
    return any(routed.decision is not None and routed.decision.action == "remove" for routed, _ in batch)


def _raw_topic(app: faust.App, name: str, settings: Settings) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                     partitions=settings.topic_partitions)


def create_app(settings: Settings, book: PolicyBook, registry: CollectorRegistry | None = None) -> faust.App:
    registry = registry or CollectorRegistry()
    metrics = Metrics(registry, __version__)
    metrics.set_policies(book)
    app = faust.App(settings.app_id, **faust_options(settings))
    source = _raw_topic(app, settings.topic_input, settings)
    outputs: dict[Output, Any] = {Output(kind): ProducerTopic(app, name)
                                  for kind, name in settings.output_topics().items()}
    outputs[Output.SHADOW_DIFF] = ProducerTopic(app, settings.topic_shadow_diff)
    holder = PolicyHolder(book)
    policy_ready = asyncio.Event()

    def policy_changed(mode: str, changed: PolicyBook | None) -> None:
        metrics.policy_updates.labels(mode).inc()
        if mode == "live":
            enforcer.request()
        metrics.set_policies(holder.live, holder.shadow)
        refs = [f"{r.id}@{r.version}" for r in changed.describe()] if changed else ["none"]
        log.info("%s policy now %s", mode, ", ".join(refs))

    follower = PolicyFollower(settings, holder, policy_changed, lambda _: metrics.policy_invalid.inc())

    @app.task
    async def follow_policy() -> None:
        """Apply what the policy topic holds before the first decision, then follow it. If the topic
        cannot be read, decide with the current policy rather than stall, and keep trying."""
        while True:
            try:
                await follower.start()
                await asyncio.wait_for(follower.catch_up(), POLICY_CATCH_UP_S)
                policy_ready.set()
                await follower.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the policy feed must never stop the listings
                log.warning("policy topic unavailable (%s); keeping the current policy, retrying",
                            type(exc).__name__)
                policy_ready.set()
                await follower.stop()
                await asyncio.sleep(POLICY_RETRY_S)

    states = ListingStates(settings)
    outputs[Output.STATE] = ProducerTopic(app, settings.topic_state())  # created compacted by ensure_topics
    batches = RecordBatches(client_options(settings), {kind: topic.name for kind, topic in outputs.items()})
    deliverer = Deliverer(outputs, metrics, batches)  # batches first; per record via `outputs` after a failure

    async def stop_batches(sender: Any, **kwargs: Any) -> None:
        await batches.stop()

    app.on_before_shutdown.connect(stop_batches)  # type: ignore[arg-type]  # faust's stub is narrower
    lock = asyncio.Lock()  # a batch of events and a re-evaluation chunk never interleave

    def owned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == settings.topic_input}

    enforcer = Enforcer(states, holder, deliverer, metrics, lock, owned,
                        busy=lambda: bool(app.rebalancing or not policy_ready.is_set()))

    @app.task
    async def enforce_policy() -> None:
        """Retroactive enforcement (enforcement.py): re-evaluate owned listings on live policy changes."""
        await enforcer.run()

    @app.task
    async def follow_policy_days() -> None:
        await enforcer.follow_days()

    decider = BatchDecider(settings, holder, states, metrics)

    async def load_states(partitions: set[int]) -> None:
        """Never raises (an exception would ack the batch): retries until the changelog can be read."""
        while True:
            try:
                await states.load(partitions)
                return
            except Exception as exc:  # noqa: BLE001 - see docstring
                log.warning("listing state not loaded (%s); retrying", type(exc).__name__)
                await asyncio.sleep(STATE_RETRY_S)

    @app.agent(source, concurrency=1, name="decide-listings")  # concurrency 1: see module docstring
    async def decide_listings(stream: Any) -> None:
        await policy_ready.wait()
        # take_events acks a batch's events only after this loop body returns, i.e. after delivery
        async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            async with lock:
                messages = [event.message for event in events]
                await load_states({m.partition for m in messages})
                batch, changelog = decider.decide(messages)
                if withdraws(batch):  # state records after the decisions: a crash replays, never loses them
                    await deliverer.deliver_batch(batch)
                    await deliverer.deliver_batch(changelog)
                else:  # together, one wait for the broker instead of two (see `withdraws`)
                    await deliverer.deliver_batch(batch + changelog)

    lag_probe = LagProbe(settings)

    @app.timer(interval=settings.lag_interval_s)
    async def measure_lag() -> None:
        try:
            for partition, lag in (await lag_probe.measure()).items():
                metrics.lag.labels(str(partition)).set(lag)
        except Exception as exc:  # noqa: BLE001 - a failed probe must never stop the worker
            metrics.lag_errors.inc()
            log.warning("lag probe failed: %s", type(exc).__name__)

    async def count_assignment(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned = args[0] if args else kwargs.get("assigned", ())
        metrics.rebalances.inc()
        mine = {tp.partition for tp in assigned if tp.topic == settings.topic_input}
        metrics.assigned.set(len(mine))
        states.assigned(mine)
        enforcer.resume()

    async def hold_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Faust awaits this before giving partitions up: wait for the batch or re-evaluation chunk in
        flight, then let no chunk start until the new assignment."""
        async with lock:
            enforcer.pause()

    app.on_partitions_assigned.connect(count_assignment)  # type: ignore[arg-type]  # faust's stub is narrower
    app.on_partitions_revoked.connect(hold_revoked)  # type: ignore[arg-type]

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def health_page(web: Any, request: Any) -> Any:
        shadow = holder.shadow.describe() if holder.shadow else []
        return web.json({"status": "ok", "policy_ready": policy_ready.is_set(),
                         "policies": [ref.model_dump() for ref in holder.live.describe()],
                         "shadow": [ref.model_dump() for ref in shadow]})

    return app
