"""End to end: 1,000 listings and 20 malformed messages through a separate worker process.

Also: the offline `stream-filter classify` and the worker give the same decisions for the sample file.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from stream_filter.dev.samples import MALFORMED, generate
from stream_filter.kafka.publish import publish
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, drain, metric_value

ROOT = Path(__file__).resolve().parents[2]
N_GOOD, N_BAD = 1000, 20


def test_thousand_listings_and_twenty_bad_ones(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    samples = generate(N_GOOD, seed=99, prefix=names.suffix)
    bad = [(f"bad-{i}".encode(), MALFORMED[i % len(MALFORMED)]) for i in range(N_BAD)]
    records: list[tuple[bytes | None, bytes]] = [(s.event["listing_id"].encode(), s.line()) for s in samples]
    records += [(key, raw) for key, (raw, _) in bad]
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"))
    worker = WorkerProcess(names.env(kafka_bootstrap), tmp_path / "worker.log").start()
    try:
        worker.get("/healthz")
        asyncio.run(publish(settings, records))
        out = drain(kafka_bootstrap, list(names.outputs().values()), N_GOOD + N_BAD)
        assert worker.alive(), worker.log()[-3000:]
        metrics = worker.get("/metrics")
    finally:
        worker.stop()

    assert len(out) == N_GOOD + N_BAD, f"expected exactly {N_GOOD + N_BAD} outputs, got {len(out)}"
    decided = {}
    for r in out:
        if r.topic == names.topic("dead-letter"):
            continue
        body = orjson.loads(r.value or b"")
        assert body["event_id"] not in decided, "an event landed twice"
        decided[body["event_id"]] = (r.topic, body["outcome"], body["reasons"][0]["code"])
    for s in samples:
        topic, outcome, reason = decided[s.event["event_id"]]
        assert (topic, outcome, reason) == (names.topic(s.outcome), s.outcome, s.reason), s.event
    dead = [r for r in out if r.topic == names.topic("dead-letter")]
    assert len(dead) == N_BAD
    expected_codes = Counter(code.encode() for _, (_, code) in [(k, MALFORMED[i % len(MALFORMED)])
                                                                  for i, (k, _) in enumerate(bad)])
    assert Counter(r.headers["error-code"] for r in dead) == expected_codes
    assert {r.value for r in dead} == {raw for raw, _ in MALFORMED}  # raw bytes recoverable
    assert metric_value(metrics, "stream_filter_decisions_total") == N_GOOD
    assert metric_value(metrics, "stream_filter_records_produced_total") == N_GOOD + N_BAD + N_GOOD  # + states
    assert metric_value(metrics, "stream_filter_records_produced_total", output="state") == N_GOOD


def _essence(body: dict[str, Any]) -> tuple[Any, ...]:
    """What must match between the offline command and the worker (decided_at differs, of course)."""
    return body["decision_id"], body["outcome"], [r["code"] for r in body["reasons"]], body["clusters"], body["origin"]


def test_offline_classify_equals_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap)
    sample = ROOT / "examples" / "listings.jsonl"
    offline = subprocess.run([sys.executable, "-m", "stream_filter", "classify", str(sample)],
                             capture_output=True, check=True).stdout.splitlines()
    expected = {}
    for line in offline:
        body = orjson.loads(line)
        if "dead_letter" not in body:
            expected[body["event_id"], body["action"]] = _essence(body)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.get("/healthz")
        subprocess.run([sys.executable, "-m", "stream_filter", "produce", str(sample)], check=True,
                       env={**worker.env})
        out = drain(kafka_bootstrap, list(names.outputs().values()), len(offline))
    finally:
        worker.stop()
    online = {}
    for r in out:
        if r.topic != names.topic("dead-letter"):
            body = orjson.loads(r.value or b"")
            online[body["event_id"], body["action"]] = _essence(body)
    assert len(out) == len(offline)
    assert online == expected
