"""The Faust worker as a real process on a real broker: routing, dead letters, metrics, clean stop."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson

from stream_filter.kafka_io import publish
from stream_filter.samples import generate
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, drain, metric_value

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
        assert worker.alive()
    finally:
        code = worker.stop(signal.SIGTERM, SIGTERM_EXIT_S)
    assert code == 0, worker.log()[-2000:]
