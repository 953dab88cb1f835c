"""Schema-registry input against a real registry (Apicurio, `make registry`) and a real broker, with
the producers ingest pipelines run: confluent-kafka's Avro and JSON Schema serializers at the
Producer's default partitioner, and kcat for plain JSON on the same topic.

Framed listings decide as their plain JSON; lookups answer for every listing; the input grown
4 -> 8 leaves 0 wrong listings; a policy change reaches every Avro listing; an outage of the registry
(stopped while records with a schema id the worker has not fetched arrive, the worker restarted
meanwhile) loses and dead-letters nothing; and bad frames are dead-lettered with their codes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.contracts.avro import listing_event_avsc
from stream_filter.core.contracts.schemas import render
from stream_filter.core.policy.book import PolicyBook
from stream_filter.dev import local_registry
from stream_filter.dev.framed import avro_body, avro_datum, frame
from stream_filter.kafka.output_subjects import decision_schema
from stream_filter.kafka.topics import ensure_topics
from tests.factories import event_dict
from tests.integration.worker.test_librdkafka_producers import (
    _answered,
    _kcat,
    _produce,
    policy_change_moves_every_listing,
)
from tests.support import (
    Names,
    WorkerProcess,
    catalogue_of,
    drain,
    end_offsets,
    event_identity,
    free_port,
    grow_input,
    listing_events,
    metric_value,
    settings_of,
    wait_caught_up,
)

LISTINGS, ROUND = 80, 240
WAIT_S = 90.0
Serialize = Callable[[bytes], bytes]
Clients = Callable[[str], SchemaRegistryClient]


def _json_schema() -> str:
    schema = json.loads(render()["listing-event.v1.json"])
    schema.pop("$schema")  # Apicurio's compatible API answers 500 to a draft 2020-12 declaration
    return json.dumps(schema)


@pytest.fixture
def clients() -> Iterator[Clients]:
    """confluent-kafka's registry clients by URL, closed after the test."""
    made: list[SchemaRegistryClient] = []

    def client(url: str) -> SchemaRegistryClient:
        made.append(SchemaRegistryClient({"url": url}))
        return made[-1]

    yield client
    for each in made:
        each.close()


def serializers(client: SchemaRegistryClient, topic: str, avsc: str | None = None) -> tuple[Serialize, Serialize]:
    """confluent-kafka's Avro and JSON Schema serializers (each under a subject of its own), from plain
    JSON listing values."""
    context = SerializationContext(topic, MessageField.VALUE)
    avro = AvroSerializer(client, avsc or listing_event_avsc(), to_dict=lambda obj, ctx: avro_datum(obj),
                          conf={"subject.name.strategy": lambda ctx, name: f"{ctx.topic}-avro-value"})
    plain = JSONSerializer(_json_schema(), client, to_dict=lambda obj, ctx: obj,
                           conf={"subject.name.strategy": lambda ctx, name: f"{ctx.topic}-json-value"})
    return (lambda value: bytes(avro(orjson.loads(value), context) or b""),
            lambda value: bytes(plain(orjson.loads(value), context) or b""))


def _registry_env(names: Names, bootstrap: str, url: str, fmt: str, **extra: str) -> dict[str, str]:
    return names.env(bootstrap, STREAM_FILTER_INPUT_FORMAT=fmt, STREAM_FILTER_SCHEMA_REGISTRY_URL=url, **extra)


def test_framed_listings_decide_as_plain_json_through_growth(kafka_bootstrap: str, clients: Clients,
                                                             schema_registry: str, tmp_path: Path) -> None:
    names = Names()
    env = _registry_env(names, kafka_bootstrap, schema_registry, "auto", STREAM_FILTER_TOPIC_PARTITIONS="4",
                        STREAM_FILTER_METADATA_MAX_AGE_S="2")
    asyncio.run(ensure_topics(settings_of(env)))
    topic = names.topic("new")
    avro, plain_json = serializers(clients(schema_registry), topic)
    rounds = [listing_events(names.suffix, ROUND, LISTINGS, delete_every=37, seed=seed)[0] for seed in (4, 5, 6)]
    third = ROUND // 3
    _produce(kafka_bootstrap, topic, [(k, avro(v)) for k, v in rounds[0][:third]])
    _produce(kafka_bootstrap, topic, [(k, plain_json(v)) for k, v in rounds[0][third:2 * third]])
    _kcat(kafka_bootstrap, topic, rounds[0][2 * third:])  # plain JSON beside the framed records
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        book = PolicyBook.load("default")
        first = catalogue_of(kafka_bootstrap, names)
        assert first.differences(expected_topics((v for _, v in rounds[0]), book)) == {}
        where = first.topics_of()
        assert _answered(worker, where) == len(where) > LISTINGS / 2

        asyncio.run(grow_input(kafka_bootstrap, topic, 8))
        _produce(kafka_bootstrap, topic, [(k, avro(v)) for k, v in rounds[1]])
        wait_caught_up(kafka_bootstrap, names, worker, 8)
        _produce(kafka_bootstrap, topic, [(k, plain_json(v)) for k, v in rounds[2]])
        wait_caught_up(kafka_bootstrap, names, worker, 8)
        catalogue = catalogue_of(kafka_bootstrap, names)
        differ = catalogue.differences(expected_topics((v for r in rounds for _, v in r), book))
        print(f"\nAvro, JSON Schema and plain JSON, 4 -> 8 partitions: {LISTINGS} listings, catalogue "
              f"{dict(catalogue.counts())}, differences {len(differ)}")
        assert differ == {}, sorted(differ.items())[:5]
        where = catalogue.topics_of()
        assert _answered(worker, where) == len(where)
        metrics = worker.get("/metrics")
        dead = drain(kafka_bootstrap, [names.topic("dead-letter")], 0, timeout_s=2)
        assert [(r.headers["error-code"], r.headers["error-message"]) for r in dead][:3] == []
        assert metric_value(metrics, "stream_filter_dead_letters_total") == 0
        assert metric_value(metrics, "stream_filter_schema_fetches_total", result="fetched") == 2
        assert json.loads(worker.get("/healthz"))["input_partitioner"]["in_use"] == "crc32"
    finally:
        assert worker.stop() == 0


def test_a_policy_change_reaches_every_avro_listing(kafka_bootstrap: str, clients: Clients, schema_registry: str,
                                                    tmp_path: Path) -> None:
    def produce(topic: str, records: list[tuple[bytes, bytes]]) -> None:
        avro, _ = serializers(clients(schema_registry), topic)
        _produce(kafka_bootstrap, topic, [(key, avro(value)) for key, value in records])

    policy_change_moves_every_listing(kafka_bootstrap, tmp_path, "confluent-kafka's Avro serializer", produce,
                                      STREAM_FILTER_INPUT_FORMAT="registry",
                                      STREAM_FILTER_SCHEMA_REGISTRY_URL=schema_registry)


def _restart_registry(port: int, data_dir: Path) -> local_registry.RegistryHandle:
    deadline = time.monotonic() + 60
    while not local_registry._port_free(port):
        assert time.monotonic() < deadline, f"port {port} still busy"
        time.sleep(0.2)
    handle = local_registry.start(port, data_dir=data_dir)
    assert handle.port == port
    return handle


def test_a_registry_outage_loses_nothing_and_dead_letters_nothing(kafka_bootstrap: str, clients: Clients,
                                                                   tmp_path: Path) -> None:
    """The registry stopped while records with a schema id the worker never fetched arrive; the worker
    restarted during the outage; then every record is decided once and none is a dead letter."""
    port = free_port()
    registry = local_registry.start(port, data_dir=tmp_path / "registry")
    names = Names()
    env = _registry_env(names, kafka_bootstrap, registry.url, "registry", STREAM_FILTER_STALL_AFTER_S="3600",
                        STREAM_FILTER_WEB_PORT=str(free_port()))  # one port: the restart keeps the data dir
    asyncio.run(ensure_topics(settings_of(env)))
    topic = names.topic("new")
    before, _ = listing_events(names.suffix + "a", 60, 30, seed=7)
    during, _ = listing_events(names.suffix + "b", 90, 45, delete_every=11, seed=8)
    avro, _ = serializers(clients(registry.url), topic)
    # a producer's second schema (its own record name, one more field): registered, never fetched by the worker
    other = json.loads(listing_event_avsc())
    other["name"] = "Listing"
    other["fields"].append({"name": "channel", "type": "string", "default": "app"})
    avro_other, _ = serializers(clients(registry.url), topic, json.dumps(other))
    framed_during = [(k, avro_other(v)) for k, v in during]  # serialized (and registered) before the outage
    assert {v[1:5] for _, v in framed_during} != {avro(before[0][1])[1:5]}
    _produce(kafka_bootstrap, topic, [(k, avro(v)) for k, v in before])
    worker = WorkerProcess(env, tmp_path / "worker1.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        decided_before = _outputs(kafka_bootstrap, names)
        local_registry.stop_pid(registry.pid)  # the outage
        _produce(kafka_bootstrap, topic, framed_during)
        waiting = "schema registry unavailable"
        worker.wait_status("/readyz", lambda s, b: s == 503 and waiting in str(b), WAIT_S, "the outage on /readyz")
        assert worker.stop() == 0  # restarted during the outage
        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        worker.wait_status("/readyz", lambda s, b: s == 503 and waiting in str(b), WAIT_S, "the outage, restarted")
        time.sleep(3)  # give a wrong worker time to decide something: nothing may come
        assert _outputs(kafka_bootstrap, names) == decided_before
        assert metric_value(worker.get("/metrics"), "stream_filter_schema_fetches_total", result="outage") >= 1
        registry = _restart_registry(port, tmp_path / "registry")  # the registry is back, with its ids
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        records = drain(kafka_bootstrap, list(names.outputs().values()), len(before) + len(during),
                        identity=event_identity)
        sent = Counter((r.topic, (d := orjson.loads(r.value or b"{}")).get("event_id"), d.get("action"))
                       for r in records if "error-code" not in r.headers)  # a move: an upsert and a removal
        dead = [r for r in records if "error-code" in r.headers]
        book = PolicyBook.load("default")
        differ = catalogue_of(kafka_bootstrap, names).differences(
            expected_topics((v for _, v in before + during), book))
        print(f"\nregistry outage with a worker restart: {len(during)} records waited, {len(dead)} dead letters, "
              f"{len(differ)} listings wrong, {sum(sent.values()) - len(sent)} records sent twice")
        assert dead == []
        assert {event for _, event, _ in sent} == {orjson.loads(v)["event_id"] for _, v in before + during}
        assert {record: n for record, n in sent.items() if n != 1} == {}  # each decided once
        assert differ == {}
        worker.wait_status("/readyz", lambda s, b: s == 200, WAIT_S, "ready once the registry answers")
    finally:
        worker.stop()
        local_registry.stop_pid(registry.pid)


def _outputs(bootstrap: str, names: Names) -> int:
    """Records on the output topics."""
    return sum(sum(end_offsets(bootstrap, topic).values()) for topic in names.outputs().values())


def test_bad_frames_are_dead_lettered_with_their_codes(kafka_bootstrap: str, clients: Clients, schema_registry: str,
                                                       tmp_path: Path) -> None:
    names = Names()
    env = _registry_env(names, kafka_bootstrap, schema_registry, "registry")
    asyncio.run(ensure_topics(settings_of(env)))
    avro, _ = serializers(clients(schema_registry), names.topic("new"))
    proto = clients(schema_registry).register_schema(f"{names.topic('new')}-proto-value", Schema(
        'syntax = "proto3"; message Listing { string listing_id = 1; }', "PROTOBUF"))
    good = orjson.dumps(event_dict(listing_id="L-good", event_id="e-good"))
    avro_id = int.from_bytes(avro(good)[1:5], "big")
    body = avro_body(event_dict())
    cases: dict[str, tuple[bytes, str | None]] = {
        "L-good": (avro(good), None),
        "L-plain": (good, "NOT_FRAMED"),
        "L-short": (b"\x00\x00\x01", "TRUNCATED_FRAME"),
        "L-cut": (frame(avro_id, body[:-4]), "TRUNCATED_FRAME"),
        "L-unknown": (frame(9_999_999, body), "UNKNOWN_SCHEMA_ID"),
        "L-proto": (frame(proto, b"\x00" + body), "UNSUPPORTED_SCHEMA"),
        "L-garbage": (frame(avro_id, body + b"\x01\x02"), "UNDECODABLE_BODY"),
    }
    _produce(kafka_bootstrap, names.topic("new"), [(k.encode(), v) for k, (v, _) in cases.items()])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        records = drain(kafka_bootstrap, list(names.outputs().values()), len(cases))
        got: dict[str, Any] = {(r.key or b"").decode(): r.headers.get("error-code", b"").decode() or None
                               for r in records}
        assert got == {k: code for k, (_, code) in cases.items()}
        assert worker.alive()
        assert metric_value(worker.get("/metrics"), "stream_filter_schema_fetches_total", result="unknown") == 1
    finally:
        assert worker.stop() == 0


def test_framed_output_for_registry_consumers(kafka_bootstrap: str, clients: Clients, schema_registry: str,
                                              tmp_path: Path) -> None:
    """STREAM_FILTER_OUTPUT_FORMAT=registry: refused until `schemas register` ran; then every decision
    record carries its subject's schema id, confluent-kafka's JSON deserializer reads it, and the
    consumer-built catalogue is what plain output gives."""
    names = Names()
    env = _registry_env(names, kafka_bootstrap, schema_registry, "json", STREAM_FILTER_OUTPUT_FORMAT="registry")
    asyncio.run(ensure_topics(settings_of(env)))
    records, _ = listing_events(names.suffix, 90, 30, delete_every=13, seed=9)
    _kcat(kafka_bootstrap, names.topic("new"), records)
    refused = WorkerProcess(env, tmp_path / "refused.log").start()
    assert refused.proc is not None and refused.proc.wait(60) == 4
    assert "run `stream-filter schemas register` first" in refused.log()
    subprocess.run([sys.executable, "-m", "stream_filter", "schemas", "register"], env=refused.env, check=True,
                   capture_output=True, timeout=60)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_caught_up(kafka_bootstrap, names, worker, 4)
        outputs = [names.topic(kind) for kind in ("approved", "rejected", "review")]
        decisions = drain(kafka_bootstrap, outputs, 1, timeout_s=5)
        client = clients(schema_registry)
        ids = {t: client.lookup_schema(f"{t}-value", Schema(json.dumps(json.loads(decision_schema())),
                                                              "JSON")).schema_id for t in outputs}
        reader = JSONDeserializer(decision_schema())
        read = 0
        for record in decisions:
            assert (record.value or b"")[:5] == b"\x00" + ids[record.topic].to_bytes(4, "big")
            body = reader(record.value, SerializationContext(record.topic, MessageField.VALUE))
            assert body["decision_id"] and body["listing_id"]
            read += 1
        book = PolicyBook.load("default")
        differ = catalogue_of(kafka_bootstrap, names).differences(expected_topics((v for _, v in records), book))
        print(f"\nframed output: {read} decision records read by confluent-kafka's JSON deserializer, "
              f"{len(differ)} listings wrong")
        assert read > 90 and differ == {}
    finally:
        assert worker.stop() == 0
