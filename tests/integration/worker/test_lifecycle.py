"""The listing lifecycle through a worker process on a real broker: create, an update that changes
the cluster, a duplicate event, deletes, and state that survives a restart on another data dir."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import orjson

from stream_filter.kafka.publish import publish
from stream_filter.settings import Settings
from tests.support import Names, Record, WorkerProcess, drain, metric_value

PHONE_CASE = "Casing HP Samsung A52 Silikon Bening"  # not a restricted cluster: approved (price above the floor)
FOOD = "Keripik Pedas Level 10 Khas Bandung 250gr"  # food & beverages: closed to cross-border sellers


def _event(event_id: str, event_type: str, listing_id: str, title: str | None = None) -> tuple[bytes, bytes]:
    body: dict[str, Any] = {"schema_version": 1, "event_id": event_id, "event_type": event_type,
                            "occurred_at": "2026-11-01T00:00:00Z", "listing_id": listing_id,
                            "seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"},
                            "price": {"amount": "200", "currency": "USD"}}
    if title:
        body["title"] = title
    return listing_id.encode(), orjson.dumps(body)


def _summary(records: list[Record], names: Names) -> list[tuple[str, str, str, str, str]]:
    """(topic kind, listing id, event id, action, first reason code) in arrival order per listing."""
    out = []
    for r in records:
        kind = r.topic.removeprefix(f"t-{names.suffix}.")
        if kind == "dead-letter":
            out.append((kind, (r.key or b"").decode(), "", "", r.headers["error-code"].decode()))
            continue
        body = orjson.loads(r.value or b"")
        out.append((kind, body["listing_id"], body["event_id"], body["action"], body["reasons"][0]["code"]))
    return out


def test_create_update_duplicate_delete_and_restart(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="2")
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"))
    outputs = list(names.outputs().values())
    a, b, c = (f"{names.suffix}-{x}" for x in "abc")
    worker = WorkerProcess(env, tmp_path / "w1.log").start()
    try:
        worker.get("/healthz")
        asyncio.run(publish(settings, [
            _event("a1", "listing.created", a, PHONE_CASE),   # approved
            _event("a2", "listing.updated", a, FOOD),         # rejected; withdrawn from approved
            _event("a2", "listing.updated", a, FOOD),         # the same event published twice
            _event("b1", "listing.created", b, PHONE_CASE),   # approved
            _event("b2", "listing.deleted", b),               # removal on approved, where it is
            _event("a3", "listing.deleted", a),               # removal on rejected, where it is now
            _event("c1", "listing.created", c, FOOD),         # rejected; stays active over the restart
        ]))
        first = drain(kafka_bootstrap, outputs, 8)
        metrics = worker.get("/metrics")
    finally:
        assert worker.stop(signal.SIGTERM) == 0
    assert sorted(_summary(first, names)) == sorted([
        ("approved", a, "a1", "upsert", "CLUSTER_NOT_BLOCKED"),
        ("rejected", a, "a2", "upsert", "CLUSTER_BLOCKED_CROSS_BORDER"),
        ("approved", a, "a2", "remove", "LISTING_MOVED"),
        ("dead-letter", a, "", "", "DUPLICATE_EVENT"),
        ("approved", b, "b1", "upsert", "CLUSTER_NOT_BLOCKED"),
        ("approved", b, "b2", "remove", "LISTING_DELETED"),
        ("rejected", a, "a3", "remove", "LISTING_DELETED"),
        ("rejected", c, "c1", "upsert", "CLUSTER_BLOCKED_CROSS_BORDER"),
    ]), worker.log()[-3000:]
    assert len(first) == 8  # nothing beyond: the duplicate was not decided a second time
    assert metric_value(metrics, "stream_filter_dead_letters_total", code="DUPLICATE_EVENT") == 1
    assert metric_value(metrics, "stream_filter_listing_withdrawals_total", reason="LISTING_MOVED") == 1

    # A new worker with an empty data dir restores the state from the changelog topic.
    worker = WorkerProcess(env, tmp_path / "w2.log").start()
    try:
        worker.get("/healthz")
        asyncio.run(publish(settings, [_event("c2", "listing.deleted", c)]))
        second = drain(kafka_bootstrap, outputs, 9)
    finally:
        assert worker.stop(signal.SIGTERM) == 0
    assert ("rejected", c, "c2", "remove", "LISTING_DELETED") in _summary(second, names), worker.log()[-3000:]
