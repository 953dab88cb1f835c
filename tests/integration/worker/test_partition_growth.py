"""Input partitions added (4 -> 8 while the worker runs, 8 -> 12 while it is stopped): the worker sees
them, grows the listing-state changelog, adopts the states of the listings that moved, and the
catalogue stays right.

The first events are decided before the change (Kafka keeps no order across partitions: a listing's
events published before the change must be decided before its events published after it, docs/contracts.md,
"Adding input partitions"); the rest are published after it, in two rounds, while the worker runs."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.policy.book import PolicyBook
from stream_filter.kafka.partitioning import partition_for
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from tests.support import (
    Names,
    WorkerProcess,
    catalogue_of,
    end_offsets,
    grow_input,
    listing_events,
    settings_of,
    wait_caught_up,
)

LISTINGS, ROUND = 200, 600
SIGTERM_EXIT_S = 10.0


def test_growing_the_input_keeps_every_listing_reachable(kafka_bootstrap: str, tmp_path: Path) -> None:
    """4 -> 8 partitions under a running worker; then 8 -> 12 while it is stopped, so that the restarted
    worker loads old and new partitions at once, after two changes."""
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="4", STREAM_FILTER_METADATA_MAX_AGE_S="2")
    settings = settings_of(env)
    asyncio.run(ensure_topics(settings))
    rounds = [listing_events(names.suffix, ROUND, LISTINGS, delete_every=41, seed=seed)[0] for seed in (1, 2, 3, 4)]
    keys = [f"{names.suffix}-k{i}".encode() for i in range(LISTINGS)]
    moved = [sum(partition_for(k, a) != partition_for(k, b) for k in keys) for a, b in ((4, 8), (8, 12))]
    asyncio.run(publish(settings, rounds[0]))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        asyncio.run(grow_input(kafka_bootstrap, names.topic("new"), 8))
        asyncio.run(publish(settings, rounds[1]))  # a new producer: the new partitions get their listings
        wait_caught_up(kafka_bootstrap, names, worker, 8)
        asyncio.run(publish(settings, rounds[2]))
        wait_caught_up(kafka_bootstrap, names, worker, 8)
    finally:
        assert worker.stop(signal.SIGTERM, SIGTERM_EXIT_S) == 0
    asyncio.run(grow_input(kafka_bootstrap, names.topic("new"), 12))
    asyncio.run(publish(settings, rounds[3]))
    worker = WorkerProcess(env, tmp_path / "restarted.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 12)
    finally:
        assert worker.stop(signal.SIGTERM, SIGTERM_EXIT_S) == 0
    assert len(end_offsets(kafka_bootstrap, settings.topic_state())) == 12  # the changelog grew with the input
    wanted = expected_topics((value for r in rounds for _, value in r), PolicyBook.load("default"))
    catalogue = catalogue_of(kafka_bootstrap, names)
    differ = catalogue.differences(wanted)
    adopted = worker.log().count("listing states adopted")
    print(f"\npartition growth 4 -> 8 (running) -> 12 (stopped): {LISTINGS} listings, {moved} moved partition, "
          f"{4 * ROUND} events; catalogue {dict(catalogue.counts())}, differences {len(differ)}")
    assert min(moved) > LISTINGS / 5 and adopted >= 1
    assert differ == {}, sorted(differ.items())[:5]
