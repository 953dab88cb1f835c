"""Benchmark variants that are not the product, each run as its own process until SIGTERM.

- `raw`: plain aiokafka passthrough (the practical limit): getmany(500), send all, one wait for all
  acknowledgements (acks=all), commit.
- `core`: the same loop with stream-filter's pure `route()` deciding each record.
- `quix`: the same filter written with Quix Streams (librdkafka), the framework a team would pick instead.

Usage: python -m bench.variants raw|core|quix BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC GROUP
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stream_filter.pipeline import route
from stream_filter.policy_files import PolicyBook

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


def run_quix(bootstrap: str, topic_in: str, topic_out: str, group: str) -> None:
    from quixstreams import Application

    book = PolicyBook.load("default")
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      processing_guarantee="at-least-once", commit_interval=COMMIT_INTERVAL_S,
                      producer_extra_config={"acks": "all", "linger.ms": 5}, auto_create_topics=True)
    source = app.topic(topic_in, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(topic_out, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(source)
    sdf = sdf.apply(lambda value, key, ts, headers: route(key, value, book).value, metadata=True)
    sdf.to_topic(sink)
    app.run()


def main(argv: list[str]) -> int:
    kind, bootstrap, topic_in, topic_out, group = argv
    if kind == "quix":
        run_quix(bootstrap, topic_in, topic_out, group)
    else:
        asyncio.run(run_raw(bootstrap, topic_in, topic_out, group, with_core=(kind == "core")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
