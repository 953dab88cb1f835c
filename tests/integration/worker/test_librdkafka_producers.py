"""The worker with no partitioner setting, fed by librdkafka producers at their defaults (CRC32 of the
key, `consistent_random`): confluent-kafka's Producer and kcat, as many ingest pipelines run.

It learns the partitioner from where the records are; then every listing is answered by the lookup,
the input grown 4 -> 8 under it leaves the consumer-built catalogue equal to each listing's latest
decision (updates and deletions after the change included), and a policy change reaches every
listing a librdkafka producer placed (before: 54 of 60 lookups 404, 159 of 300 listings wrong after
growth, 48 of 200 moved by a policy change)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.policy.book import PolicyBook
from stream_filter.kafka.partitioning import partition_for
from stream_filter.kafka.topics import ensure_topics
from tests.factories import event_dict, policy_text
from tests.support import (
    Names,
    WorkerProcess,
    catalogue_of,
    grow_input,
    listing_events,
    metric_value,
    publish_and_wait_for_pass,
    settings_of,
    wait_caught_up,
)

LISTINGS, ROUND = 100, 300
Produce = Callable[[str, list[tuple[bytes, bytes]]], None]  # (topic, keyed plain JSON values)


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """confluent-kafka's Producer at its defaults (partitioner consistent_random), a new one each time."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce(topic, value=value, key=key)
        producer.poll(0)
    assert producer.flush(30) == 0


def _kcat(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """kcat at its defaults: key and value split at a tab, one record per line."""
    kcat = shutil.which("kcat")
    assert kcat, "kcat not found: install Debian's 'kcat' package (.ci/run does)"
    lines = b"".join(key + b"\t" + value + b"\n" for key, value in records)
    subprocess.run([kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t"], input=lines, check=True, timeout=60)


def _lookup(worker: WorkerProcess, listing_id: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/listings/{listing_id}", timeout=10) as resp:
            return int(resp.status), orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), orjson.loads(exc.read())


def _answered(worker: WorkerProcess, where: dict[str, set[str]]) -> int:
    """Lookups whose answer puts the listing where the consumer-built catalogue has it."""
    right = 0
    for listing_id, topics in where.items():
        status, body = _lookup(worker, listing_id)
        right += status == 200 and {body["decision"]["outcome"]} == topics
    return right


def test_learns_the_partitioner_and_keeps_lookups_and_growth_right(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="4", STREAM_FILTER_METADATA_MAX_AGE_S="2")
    settings = settings_of(env)
    asyncio.run(ensure_topics(settings))
    rounds = [listing_events(names.suffix, ROUND, LISTINGS, delete_every=41, seed=seed)[0] for seed in (1, 2, 3)]
    keys = [f"{names.suffix}-k{i}".encode() for i in range(LISTINGS)]
    assert sum(zlib.crc32(k) % 4 != partition_for(k, 4) for k in keys) > LISTINGS / 2  # murmur2 would miss
    _produce(kafka_bootstrap, names.topic("new"), rounds[0][: ROUND // 2])
    _kcat(kafka_bootstrap, names.topic("new"), rounds[0][ROUND // 2:])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        where = catalogue_of(kafka_bootstrap, names).topics_of()
        assert _answered(worker, where) == len(where) > LISTINGS / 2
        health = json.loads(worker.get("/healthz")).get("input_partitioner")
        assert health == {"setting": "auto", "in_use": "crc32", "disagreed": 0}

        asyncio.run(grow_input(kafka_bootstrap, names.topic("new"), 8))
        _produce(kafka_bootstrap, names.topic("new"), rounds[1])  # a new producer: it sees 8 partitions
        wait_caught_up(kafka_bootstrap, names, worker, 8)
        _kcat(kafka_bootstrap, names.topic("new"), rounds[2])
        wait_caught_up(kafka_bootstrap, names, worker, 8)
        wanted = expected_topics((value for r in rounds for _, value in r), PolicyBook.load("default"))
        catalogue = catalogue_of(kafka_bootstrap, names)
        differ = catalogue.differences(wanted)
        print(f"\nlibrdkafka producers, 4 -> 8 partitions: {LISTINGS} listings, catalogue "
              f"{dict(catalogue.counts())}, differences {len(differ)}")
        assert differ == {}, sorted(differ.items())[:5]
        where = catalogue.topics_of()
        assert _answered(worker, where) == len(where)
        assert metric_value(worker.get("/metrics"), "stream_filter_input_partition_disagreements_total") == 0
        # a state record for a partition the producer's metadata did not know yet was a dead letter once
        assert metric_value(worker.get("/metrics"), "stream_filter_dead_letters_total") == 0
    finally:
        assert worker.stop() == 0


def policy_change_moves_every_listing(kafka_bootstrap: str, tmp_path: Path, what: str, produce: Produce,
                                      **env_extra: str) -> None:
    """200 cross-border snack listings approved under v1, produced by `produce`; v2 closes food: every
    one of them must move to rejected (the pass must not skip a listing its producer placed)."""
    names = Names()
    v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    v1.write_text(policy_text("1", "textile_fashion", policy_id="lr"))
    v2.write_text(policy_text("2", "textile_fashion, food_beverage", policy_id="lr"))
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="4", STREAM_FILTER_POLICY=str(v1), **env_extra)
    asyncio.run(ensure_topics(settings_of(env)))
    foods = [f"{names.suffix}-f{i}" for i in range(200)]
    produce(names.topic("new"), [(lid.encode(), orjson.dumps(event_dict(
        listing_id=lid, event_id=f"{lid}-e0", title="Keripik Singkong Pedas Khas Bandung 250gr",
        seller={"country": "CN"}, ship_from={"location": "Shenzhen"}, price={"amount": "150", "currency": "USD"})))
        for lid in foods])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        assert catalogue_of(kafka_bootstrap, names).topics_of() == {lid: {"approved"} for lid in foods}
        publish_and_wait_for_pass(worker, v2)
        where = catalogue_of(kafka_bootstrap, names).topics_of()
        moved = sum(where[lid] == {"rejected"} for lid in foods)
        print(f"\npolicy change over {len(foods)} listings placed by {what}: {moved} moved to rejected")
        assert moved == len(foods)
    finally:
        assert worker.stop() == 0


def test_a_policy_change_reaches_every_listing_a_librdkafka_producer_placed(kafka_bootstrap: str,
                                                                            tmp_path: Path) -> None:
    policy_change_moves_every_listing(kafka_bootstrap, tmp_path, "kcat",
                                      lambda topic, records: _kcat(kafka_bootstrap, topic, records))
