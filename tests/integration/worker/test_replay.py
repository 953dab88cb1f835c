"""A replay over states already ahead: the worker stopped, its group rewound to the start of the input,
restarted. Every event is read again; the catalogue consumers build must not change."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.policy.book import PolicyBook
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from tests.support import (
    Names,
    WorkerProcess,
    catalogue_of,
    committed_lag,
    end_offsets,
    listing_events,
    metric_value,
    wait_caught_up,
)

EVENTS, LISTINGS = 1200, 300  # four events per listing, outcomes alternating, some deleted
SIGTERM_EXIT_S = 10.0


async def _rewind(bootstrap: str, names: Names, partitions: list[int]) -> None:
    """What an operator's `--reset-offsets --to-earliest` does, while no member is in the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=names.app_id, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(names.topic("new"), p) for p in partitions]
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()


def test_rewinding_the_group_to_the_start_leaves_the_catalogue_as_it_was(kafka_bootstrap: str,
                                                                         tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="4")
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"), topic_partitions=4,
                        **{f"topic_{k}": v for k, v in names.outputs().items()})
    asyncio.run(ensure_topics(settings))
    records, _ = listing_events(names.suffix, EVENTS, LISTINGS, delete_every=29)
    asyncio.run(publish(settings, records))
    wanted = expected_topics((value for _, value in records), PolicyBook.load("default"))

    worker = WorkerProcess(env, tmp_path / "first.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker)
    finally:
        assert worker.stop(signal.SIGTERM, SIGTERM_EXIT_S) == 0
    before = catalogue_of(kafka_bootstrap, names)
    assert before.differences(wanted) == {}

    asyncio.run(_rewind(kafka_bootstrap, names, list(end_offsets(kafka_bootstrap, names.topic("new")))))
    assert committed_lag(kafka_bootstrap, names.app_id, names.topic("new")) == EVENTS
    worker = WorkerProcess(env, tmp_path / "replay.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker)
        metrics = worker.get("/metrics")
    finally:
        assert worker.stop(signal.SIGTERM, SIGTERM_EXIT_S) == 0
    after = catalogue_of(kafka_bootstrap, names)
    differ = after.differences(wanted)
    print(f"\nreplay: {EVENTS} events of {LISTINGS} listings read again; catalogue {dict(after.counts())}, "
          f"differences {len(differ)}, records dropped as replays {after.duplicates}")
    assert differ == {}, sorted(differ.items())[:5]
    assert after.listings == before.listings
    replayed = metric_value(metrics, "stream_filter_replayed_events_total")
    assert replayed > EVENTS / 2  # every event of a listing still held (deleted ones are decided anew)
    assert metric_value(metrics, "stream_filter_replayed_events_total", sent="nothing") > 0
