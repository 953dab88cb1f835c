"""The Faust worker as a real process on a real broker: routing, dead letters, metrics, clean stop."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson

from stream_filter.dev.samples import generate
from stream_filter.kafka.publish import publish
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, committed_lag, drain, metric_value

SIGTERM_EXIT_S = 10.0


def _publish(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_input=topic)
    asyncio.run(publish(settings, records))  # type: ignore[arg-type]


def test_worker_routes_each_outcome_and_dead_letters(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    worker = WorkerProcess(names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="2"), tmp_path / "w.log").start()
    try:
        worker.get("/healthz")  # topics exist once the worker's web server is up
        samples = generate(30, seed=5, prefix=names.suffix)
        good = [(s.event["listing_id"].encode(), s.line()) for s in samples]
        bad: list[tuple[bytes | None, bytes | None]] = [
            (b"k-null", None),  # tombstone
            (b"wrong-key", samples[0].line()),  # key does not match listing_id
            (None, samples[1].line()),  # no key
            (b"k-json", b"{broken"),
        ]
        _publish(kafka_bootstrap, names.topic("new"), [*good, *bad])
        records = drain(kafka_bootstrap, list(names.outputs().values()), len(good) + len(bad))
        by_topic: dict[str, list[object]] = {}
        for r in records:
            by_topic.setdefault(r.topic, []).append(r)
        assert len(records) == 34, worker.log()[-2000:]
        for s in samples:
            [rec] = [r for r in records if r.value and r.topic != names.topic("dead-letter")
                     and orjson.loads(r.value)["event_id"] == s.event["event_id"]]
            assert rec.topic == names.topic(s.outcome)
            assert rec.headers["outcome"] == s.outcome.encode()
            assert rec.headers["reason-codes"].split(b",")[0] == s.reason.encode()
        dead = [r for r in records if r.topic == names.topic("dead-letter")]
        assert sorted(r.headers["error-code"] for r in dead) == sorted(
            [b"NULL_VALUE", b"KEY_MISMATCH", b"MISSING_KEY", b"INVALID_JSON"])
        for r in dead:
            assert r.headers["source-topic"] == names.topic("new").encode()
            assert int(r.headers["source-offset"]) >= 0
        assert next(r for r in dead if r.headers["error-code"] == b"INVALID_JSON").value == b"{broken"
        metrics = worker.get("/metrics")
        assert metric_value(metrics, "stream_filter_decisions_total") == 30
        assert metric_value(metrics, "stream_filter_dead_letters_total") == 4
        assert metric_value(metrics, "stream_filter_batch_records_sum") == 34  # every input record, in batches
        batches = metric_value(metrics, "stream_filter_batch_records_count")
        assert metric_value(metrics, "stream_filter_delivery_seconds_count", records="decisions") == batches
        # a batch's states go out (and are acknowledged) before its decisions: one more wait, when it has states
        assert 1 <= metric_value(metrics, "stream_filter_delivery_seconds_count", records="states") <= batches
        assert worker.alive()
    finally:
        code = worker.stop(signal.SIGTERM, SIGTERM_EXIT_S)
    assert code == 0, worker.log()[-2000:]


def test_refused_output_is_dead_lettered_with_original_bytes(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A decision the broker refuses (too large for the output topic) is not lost: its input goes to the
    dead-letter topic untouched, with OUTPUT_TOO_LARGE; and listing content stays out of the logs."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    names = Names()

    async def small_approved_topic() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(names.topic("approved"), 1, 1,
                                                topic_configs={"max.message.bytes": "3000"})])
        finally:
            await admin.close()

    asyncio.run(small_approved_topic())
    secret_title = f"Kaos Rahasia {names.suffix}"
    base = {"schema_version": 1, "event_type": "listing.created", "occurred_at": "2026-11-01T00:00:00Z",
            "seller": {"country": "ID"}, "ship_from": {"location": "Kota Bandung"}, "title": secret_title}
    big = orjson.dumps({**base, "event_id": "big", "listing_id": "big", "description": "kain katun " * 250})
    small = orjson.dumps({**base, "event_id": "small", "listing_id": "small"})
    worker = WorkerProcess(names.env(kafka_bootstrap), tmp_path / "w.log").start()
    try:
        worker.get("/healthz")
        _publish(kafka_bootstrap, names.topic("new"), [(b"big", big), (b"small", small)])
        records = drain(kafka_bootstrap, list(names.outputs().values()), 2)
        assert worker.alive()
    finally:
        code = worker.stop(signal.SIGTERM, SIGTERM_EXIT_S)
    assert code == 0
    by_topic = {r.topic: r for r in records}
    assert set(by_topic) == {names.topic("approved"), names.topic("dead-letter")}, worker.log()[-2000:]
    dead = by_topic[names.topic("dead-letter")]
    assert dead.headers["error-code"] == b"OUTPUT_TOO_LARGE" and dead.value == big and dead.key == b"big"
    assert orjson.loads(by_topic[names.topic("approved")].value or b"")["event_id"] == "small"
    assert committed_lag(kafka_bootstrap, names.app_id, names.topic("new")) == 0  # SIGTERM committed
    assert secret_title not in worker.log() and "Rahasia" not in worker.log()
    assert "records kept below 2488 bytes" in worker.log()  # fitted at start to the topic's max.message.bytes
