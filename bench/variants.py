"""Benchmark variants that are not the product, each run as its own process until SIGTERM.

- `raw`: plain aiokafka passthrough (the practical limit): getmany(500), send all, one wait for all
  acknowledgements (acks=all), commit.
- `core`: the same loop with stream-filter's pure `route()` deciding each record.
- `quix`: the same filter written with Quix Streams (librdkafka), the framework a team would pick
  instead: each decision to its outcome's topic with its headers, and the same listing state
  (`lifecycle.advance`: withdrawals when a listing moves or is deleted) kept in Quix's own state
  store (RocksDB, with its changelog topic), keyed by the record key (the listing id).
- `quix-core`: Quix Streams with the core only: every decision to one topic, no state, no headers
  (what the peer measured before it did the same work as the worker).
- `faust`: a Faust agent that forwards raw bytes, no logic, with the worker's own Faust options and
  transport (its fetch wait included): the ceiling of Faust's per-record path on this machine.
- `confluent`: confluent-kafka (librdkafka) passthrough, no logic: consume 500, produce all, flush
  (every acknowledgement, acks=all), commit.

Usage: python -m bench.variants raw|core|quix-core|faust|confluent BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC GROUP
       python -m bench.variants quix BOOTSTRAP INPUT_TOPIC OUTPUT_PREFIX GROUP   (PREFIX.approved, ...)
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Output, Routed, route

BATCH = 500
COMMIT_INTERVAL_S = 1.0  # the worker's broker_commit_interval


async def run_raw(bootstrap: str, topic_in: str, topic_out: str, group: str, with_core: bool) -> None:
    book = PolicyBook.load("default")
    consumer = AIOKafkaConsumer(topic_in, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4_194_304)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            futures = []
            for msgs in batch.values():
                for m in msgs:
                    if with_core:
                        r = route(m.key, m.value, book, source=(m.topic, m.partition, m.offset))
                        futures.append(await producer.send(topic_out, r.value, key=r.key, headers=r.headers))
                    else:
                        futures.append(await producer.send(topic_out, m.value, key=m.key))
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def _quix_app(bootstrap: str, group: str) -> Any:
    from quixstreams import Application

    return Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                       processing_guarantee="at-least-once", commit_interval=COMMIT_INTERVAL_S,
                       producer_extra_config={"acks": "all", "linger.ms": 5}, auto_create_topics=True,
                       state_dir=str(Path(tempfile.gettempdir()) / group))


def run_quix_core(bootstrap: str, topic_in: str, topic_out: str, group: str) -> None:
    book = PolicyBook.load("default")
    app = _quix_app(bootstrap, group)
    source = app.topic(topic_in, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(topic_out, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(source)
    sdf = sdf.apply(lambda value, key, ts, headers: route(key, value, book).value, metadata=True)
    sdf.to_topic(sink)
    app.run()


def run_quix(bootstrap: str, topic_in: str, out_prefix: str, group: str) -> None:
    """The worker's per-event work in Quix's idiom: decide, fold into the listing's state, send each
    resulting record (decision or withdrawal) to its outcome's topic with its headers."""
    from quixstreams import message_context
    from quixstreams.models.serializers import SerializationContext, Serializer

    class RoutedValue(Serializer):
        def __call__(self, value: Routed, ctx: SerializationContext) -> bytes | None:
            return value.value

    book = PolicyBook.load("default")
    app = _quix_app(bootstrap, group)
    source = app.topic(topic_in, key_deserializer="bytes", value_deserializer="bytes")
    sinks = {kind: app.topic(f"{out_prefix}.{kind.value.replace('_', '-')}", key_serializer="bytes",
                             value_serializer=RoutedValue())
             for kind in (Output.APPROVED, Output.REJECTED, Output.REVIEW, Output.DEAD_LETTER)}

    def decide(value: bytes, key: bytes, ts: int, headers: Any, state: Any) -> list[Routed]:
        ctx = message_context()
        routed = route(key, value, book, source=(ctx.topic, ctx.partition, ctx.offset))
        if routed.decision is None:
            return [routed]
        previous = state.get_bytes("listing")
        step = advance(routed, ListingState.from_bytes(previous) if previous is not None else None, ctx.partition)
        if step.state is not None:
            state.set_bytes("listing", step.state.to_bytes())
        elif step.remove and previous is not None:
            state.delete("listing")
        return step.records

    sdf = app.dataframe(source)
    sdf = sdf.apply(decide, stateful=True, metadata=True, expand=True)
    sdf = sdf.set_headers(lambda value, key, ts, headers: value.headers)
    sdf.to_topic(lambda value, key, ts, headers: sinks[value.output], key=lambda value: value.key)
    app.run()


def run_faust(bootstrap: str, topic_in: str, topic_out: str, group: str) -> None:
    import faust
    import uvloop

    from stream_filter.settings import Settings
    from stream_filter.worker.faust_options import faust_options
    from stream_filter.worker.transport import App

    uvloop.install()  # as the worker does (before Faust creates its loop)
    settings = Settings(kafka_bootstrap_servers=bootstrap, app_id=group,
                        data_dir=str(Path(tempfile.gettempdir()) / group))
    app = App(group, fetch_max_wait_ms=settings.fetch_max_wait_ms, **{**faust_options(settings), "web_enabled": False})
    source = app.topic(topic_in, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    sink = app.topic(topic_out, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def forward(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=settings.batch_within_s):
            sent = [await sink.send(key=e.message.key, value=e.message.value) for e in events]
            await asyncio.gather(*sent)  # acknowledged before the batch's offsets may be committed

    app.agent(source, concurrency=1, name="forward")(forward)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def run_confluent(bootstrap: str, topic_in: str, topic_out: str, group: str) -> None:
    from confluent_kafka import Consumer, Producer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    failed: list[Any] = []

    def delivered(error: Any, _: Any) -> None:
        if error is not None:
            failed.append(error)

    signal.signal(signal.SIGTERM, on_term)
    consumer.subscribe([topic_in])
    try:
        while not stop:
            messages = [m for m in consumer.consume(BATCH, timeout=0.2) if not m.error()]
            for m in messages:
                producer.produce(topic_out, m.value(), m.key(), on_delivery=delivered)
            if messages:
                producer.flush()
                if failed:  # never commit what was not acknowledged
                    raise SystemExit(f"delivery failed: {failed[0]}")
                consumer.commit(asynchronous=False)
    finally:
        producer.flush(10)
        consumer.close()


def main(argv: list[str]) -> int:
    kind, bootstrap, topic_in, topic_out, group = argv
    if kind == "quix":
        run_quix(bootstrap, topic_in, topic_out, group)
    elif kind == "quix-core":
        run_quix_core(bootstrap, topic_in, topic_out, group)
    elif kind == "faust":
        run_faust(bootstrap, topic_in, topic_out, group)
    elif kind == "confluent":
        run_confluent(bootstrap, topic_in, topic_out, group)
    else:
        asyncio.run(run_raw(bootstrap, topic_in, topic_out, group, with_core=(kind == "core")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
