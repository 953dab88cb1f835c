"""A restart on the same data dir: the worker sealed its listing states at SIGTERM, so the next start
reads only what the changelog got since, and the catalogue stays right."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.policy.book import PolicyBook
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, catalogue_of, free_port, listing_events, wait_caught_up

LISTINGS, ROUND = 200, 600
SIGTERM_EXIT_S = 10.0


def test_a_restart_goes_on_from_the_sealed_states(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="4", STREAM_FILTER_WEB_PORT=str(free_port()))
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"), topic_partitions=4,
                        **{f"topic_{k}": v for k, v in names.outputs().items()})
    asyncio.run(ensure_topics(settings))
    rounds = [listing_events(names.suffix, ROUND, LISTINGS, delete_every=37, seed=seed)[0] for seed in (1, 2)]
    asyncio.run(publish(settings, rounds[0]))
    first = WorkerProcess(env, tmp_path / "first.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, first)
    finally:
        assert first.stop(signal.SIGTERM, SIGTERM_EXIT_S) == 0
    assert "sealed at changelog offsets" in first.log()
    asyncio.run(publish(settings, rounds[1]))  # decided by the restarted worker, on the states it kept
    second = WorkerProcess(env, tmp_path / "second.log").start()  # the same port: the same data dir
    try:
        wait_caught_up(kafka_bootstrap, names, second)
    finally:
        assert second.stop(signal.SIGTERM, SIGTERM_EXIT_S) == 0
    assert "sealed stores went on from" in second.log(), second.log()[-2000:]
    wanted = expected_topics((value for r in rounds for _, value in r), PolicyBook.load("default"))
    differ = catalogue_of(kafka_bootstrap, names).differences(wanted)
    assert differ == {}, sorted(differ.items())[:5]
