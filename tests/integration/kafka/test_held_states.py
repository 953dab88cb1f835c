"""The impact preview reads the states the workers hold from the changelog: the latest per listing,
the copy on its current partition before one left on an older partition (docs/policy.md, Live policy)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson
from aiokafka import AIOKafkaProducer

from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import route
from stream_filter.kafka.held_states import read_held_states
from stream_filter.kafka.partitioning import partition_for
from stream_filter.kafka.topics import ensure_topics
from tests.factories import event_dict
from tests.support import Names

PARTITIONS = 4


def _state(listing_id: str) -> ListingState:
    body = event_dict(listing_id=listing_id, event_id=f"e-{listing_id}")
    step = advance(route(listing_id.encode(), orjson.dumps(body), PolicyBook.load("default")), None, 0)
    assert step.state is not None
    return step.state


async def _write(bootstrap: str, topic: str, records: list[tuple[str, int, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, partition, value in records:
            await (await producer.send(topic, value, key=key.encode(), partition=partition))
    finally:
        await producer.stop()


def test_the_copy_on_the_current_partition_wins_and_tombstones_drop(kafka_bootstrap: str) -> None:
    names = Names()
    settings = names.settings(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS=str(PARTITIONS))
    asyncio.run(ensure_topics(settings, [settings.topic_input, settings.topic_state()]))
    home = {key: partition_for(key.encode(), PARTITIONS) for key in ("moved", "stray", "deleted")}
    other = {key: (p + 1) % PARTITIONS for key, p in home.items()}
    current, stale, stray = _state("moved"), replace(_state("moved"), event_id="old"), _state("stray")
    asyncio.run(_write(kafka_bootstrap, settings.topic_state(), [
        ("moved", home["moved"], current.to_bytes()),
        ("moved", other["moved"], stale.to_bytes()),  # written after, on its old partition: still loses
        ("stray", other["stray"], stray.to_bytes()),  # not adopted yet: the only copy counts
        ("deleted", home["deleted"], _state("deleted").to_bytes()),
        ("deleted", home["deleted"], None),
    ]))
    held = {state.listing_id: state for state in asyncio.run(read_held_states(settings))}
    assert sorted(held) == ["moved", "stray"]
    assert held["moved"].event_id == current.event_id != "old"
