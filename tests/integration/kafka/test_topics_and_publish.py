"""The broker the suite runs on answers, and the aiokafka edge creates topics and round-trips records."""

from __future__ import annotations

import asyncio
import time

from stream_filter.dev.local_kafka import broker_answers
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from tests.support import Names, drain, end_offsets


def test_broker_answers_metadata(kafka_bootstrap: str) -> None:
    assert broker_answers(kafka_bootstrap)
    assert not broker_answers("127.0.0.1:1")  # nothing listens there: readiness must say no


def test_ensure_topics_creates_missing_topics_once(kafka_bootstrap: str) -> None:
    names = Names()
    settings = Settings(**{k.removeprefix("STREAM_FILTER_").lower(): v for k, v in names.env(kafka_bootstrap).items()},
                        topic_partitions=3)
    created = asyncio.run(ensure_topics(settings))
    assert sorted(created) == sorted([names.topic("new"), *names.outputs().values(), names.topic("shadow-diff"),
                                      f"{names.app_id}-listing-state-changelog", names.topic("review-verdicts")])
    assert asyncio.run(ensure_topics(settings)) == []
    assert sorted(end_offsets(kafka_bootstrap, names.topic("new"))) == [0, 1, 2]
    assert sorted(end_offsets(kafka_bootstrap, names.topic("review-verdicts"))) == [0, 1, 2]  # co-partitioned


def test_publish_round_trip_keeps_keys_and_order_per_key(kafka_bootstrap: str) -> None:
    names = Names()
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"))
    asyncio.run(ensure_topics(settings, [names.topic("new")]))
    records = [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(100)]
    assert asyncio.run(publish(settings, records)) == 100
    got = drain(kafka_bootstrap, [names.topic("new")], 100, timeout_s=30)
    assert len(got) == 100
    for key in {k for k, _ in records}:
        assert [r.value for r in got if r.key == key] == [v for k, v in records if k == key]


def test_state_changelog_follows_the_input_partitions(kafka_bootstrap: str) -> None:
    """The state changelog is co-partitioned with the input, whatever topic_partitions says."""
    names = Names()
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, app_id=names.app_id, topic_input=names.topic("new"),
                        topic_partitions=2)
    asyncio.run(ensure_topics(settings, [settings.topic_input, settings.topic_state()]))
    assert len(end_offsets(kafka_bootstrap, settings.topic_state())) == 2
    wider = settings.model_copy(update={"topic_input": names.topic("wide"), "topic_partitions": 8})
    asyncio.run(ensure_topics(wider, [wider.topic_input]))  # an input of 8 partitions exists first
    asyncio.run(ensure_topics(settings.model_copy(update={"topic_input": wider.topic_input}),
                              [wider.topic_input, settings.topic_state()]))
    assert _partitions_seen(kafka_bootstrap, settings.topic_state(), 8) == 8  # grown to match


def _partitions_seen(bootstrap: str, topic: str, wanted: int, timeout_s: float = 15.0) -> int:
    """The partition count the broker's metadata reports, asked again until it shows `wanted`: new
    partitions reach the metadata a moment after the admin call returns."""
    deadline = time.monotonic() + timeout_s
    while (seen := len(end_offsets(bootstrap, topic))) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen
