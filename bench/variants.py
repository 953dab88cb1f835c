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

Usage: python -m bench.variants raw|core|quix-core BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC GROUP
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


def main(argv: list[str]) -> int:
    kind, bootstrap, topic_in, topic_out, group = argv
    if kind == "quix":
        run_quix(bootstrap, topic_in, topic_out, group)
    elif kind == "quix-core":
        run_quix_core(bootstrap, topic_in, topic_out, group)
    else:
        asyncio.run(run_raw(bootstrap, topic_in, topic_out, group, with_core=(kind == "core")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
