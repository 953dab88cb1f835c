"""Operations on a real broker: a clean /metrics for promtool, consumer lag, and two workers sharing work."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import orjson

from stream_filter.dev.samples import generate
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, drain, event_identity, metric_value, wait_until_shared

LAG_WAIT_S = 60.0


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install Debian's 'prometheus' package (.ci/run does)"
    return path


def _settings(names: Names, bootstrap: str) -> Settings:
    return Settings(kafka_bootstrap_servers=bootstrap, topic_input=names.topic("new"), topic_partitions=4,
                    **{f"topic_{k}": v for k, v in names.outputs().items()})


def test_metrics_pass_promtool_and_report_lag(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_LAG_INTERVAL_S="1")
    samples = generate(40, seed=12, prefix=names.suffix)
    worker = WorkerProcess(env, tmp_path / "w.log").start()
    try:
        worker.get("/healthz")
        asyncio.run(publish(_settings(names, kafka_bootstrap),
                            [(s.event["listing_id"].encode(), s.line()) for s in samples]))
        assert len(drain(kafka_bootstrap, list(names.outputs().values()), 40)) == 40
        deadline = time.monotonic() + LAG_WAIT_S
        while True:  # the worker commits, then its next lag probe sees the group caught up
            text = worker.get("/metrics")
            lags = [line for line in text.splitlines() if line.startswith("stream_filter_consumer_lag_records{")]
            if len(lags) == 4 and metric_value(text, "stream_filter_consumer_lag_records") == 0:
                break
            assert time.monotonic() < deadline, f"lag never reached 0: {lags}"
            time.sleep(0.5)
    finally:
        worker.stop()
    assert metric_value(text, "stream_filter_rebalances_total") >= 1
    assert metric_value(text, "stream_filter_assigned_partitions") == 4
    assert metric_value(text, "stream_filter_policy_info", policy_id="default") == 1
    scrape = tmp_path / "scrape.txt"
    scrape.write_text(text)
    check = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check.stdout + check.stderr


def test_two_workers_share_the_partitions_and_lose_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    names = Names()
    env = names.env(kafka_bootstrap)
    asyncio.run(ensure_topics(_settings(names, kafka_bootstrap)))
    samples = generate(2000, seed=13, prefix=names.suffix)
    first = WorkerProcess(env, tmp_path / "a.log").start()
    second = WorkerProcess(env, tmp_path / "b.log").start()
    try:
        wait_until_shared([first, second], 4)
        asyncio.run(publish(_settings(names, kafka_bootstrap),
                            [(s.event["listing_id"].encode(), s.line()) for s in samples]))
        out = drain(kafka_bootstrap, list(names.outputs().values()), len(samples), identity=event_identity)
        consumed = [metric_value(w.get("/metrics"), "stream_filter_records_consumed_total") for w in (first, second)]
        assigned = [metric_value(w.get("/metrics"), "stream_filter_assigned_partitions") for w in (first, second)]
    finally:
        assert first.stop() == 0 and second.stop() == 0
    seen: dict[str, set[str]] = defaultdict(set)
    kind_of = {v: k for k, v in names.outputs().items()}
    for r in out:
        body = orjson.loads(r.value or b"")
        seen[body["event_id"]].add(f"{kind_of[r.topic]}:{body['decision_id']}")
    assert set(seen) == {s.event["event_id"] for s in samples}, "an event was lost"
    for s in samples:
        assert len(seen[s.event["event_id"]]) == 1  # replays at a rebalance repeat the same decision
        assert next(iter(seen[s.event["event_id"]])).startswith(s.outcome + ":")
    assert all(c > 0 for c in consumed), f"work was not shared: consumed {consumed}"
    assert sum(assigned) == 4 and min(assigned) >= 1, assigned
    print(f"\nscale-out: consumed per worker {consumed}, outputs {len(out)} for {len(samples)} events")
