"""Figures for the sizing guide (docs/kubernetes.md): what N active listings cost a worker.

Writes N listing states (default 1,000,000) to a fresh deployment's state changelog (4 partitions)
and measures, with worker processes on the local broker:
- a cold start: the worker loads every state from the changelog (a new pod, or a lost volume);
- a warm restart: SIGTERM, then a start on the same data dir (the sealed stores: a pod that keeps
  its volume reads only the changelog's tail);
- a second worker joining: the rebalance moves half the partitions, and the newcomer loads them;
- that worker leaving under traffic (500 new listings/s): the first takes its partitions back and
  loads their states; event-to-output latency on the partitions it kept and on those it took;
- memory (resident now and peak) and the state's size on disk per million listings.

    python -m bench.sizing [--n 1000000]      results in bench/results/sizing.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from bench.reevaluation import PARTITIONS, POLICY, deployment_env, metric, pool_states, write_states
from bench.run import committed, free_port, payloads, peak_rss_mb, pick, produce, write_result
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import parse_policy
from stream_filter.dev import local_kafka
from stream_filter.kafka.partitioning import partition_for
from stream_filter.kafka.reading import read_from_start
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings

RESULTS = Path(__file__).parent / "results" / "sizing.json"


class Worker:
    """One worker process with its own data dir and web port."""

    def __init__(self, env: dict[str, str], data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.data_dir = data_dir
        env = {**env, "STREAM_FILTER_WEB_PORT": str(self.port), "STREAM_FILTER_DATA_DIR": str(data_dir)}
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "stream_filter", "worker"], env=env,
                                         stdout=out, stderr=out)

    def ready_with(self, partitions: int) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5)
            return metric(self.port, "stream_filter_assigned_partitions") == partitions
        except (OSError, urllib.error.HTTPError):
            return False

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.terminate()
        self.proc.wait(60)
        return time.monotonic() - started


def until(condition: Any, limit_s: float = 1800) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit_s:
            raise SystemExit("timed out")
        time.sleep(0.25)
    return time.monotonic() - started


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def leave_under_traffic(bootstrap: str, env: dict[str, str], first: Worker, second: Worker, app_id: str,
                        rate: float = 500.0, seconds: float = 20.0) -> dict[str, Any]:
    """Stop `second` while new listings arrive; latency (output record time minus the event's send
    time) of the events sent in the 10 s after the stop, on the partitions `first` kept and took."""
    moved = {int(p) for p in re.findall(r"listing state of partitions \[([\d, ]+)\] loaded",
                                        second.log.read_text())[-1].split(",")}
    records = payloads(int(rate * seconds), seed=5, prefix=f"{app_id}-leave")
    start = time.time() + 1.0
    sent_at = {key: start + i / rate for i, (key, _) in enumerate(records)}
    traffic = threading.Thread(target=lambda: asyncio.run(produce(bootstrap, env["STREAM_FILTER_TOPIC_INPUT"],
                                                                  records, rate=rate, start=start)))
    traffic.start()
    time.sleep(4.0)
    stopped = time.time()
    second.stop()
    traffic.join()
    until(lambda: first.ready_with(PARTITIONS), 300)
    until(lambda: asyncio.run(committed(bootstrap, app_id, env["STREAM_FILTER_TOPIC_INPUT"], PARTITIONS))
          >= len(records), 300)  # every event decided
    outputs = [env[f"STREAM_FILTER_TOPIC_{k}"] for k in ("APPROVED", "REJECTED", "REVIEW", "DEAD_LETTER")]
    first_out: dict[bytes, float] = {}  # a replay after the rebalance sends a copy later: the first one counts

    def keep(_: Any, record: Any) -> None:
        sent = sent_at.get(record.key)
        if sent is not None and stopped <= sent < stopped + 10:
            first_out[record.key] = min(first_out.get(record.key, float("inf")), record.timestamp / 1000 - sent)

    settings = Settings(kafka_bootstrap_servers=bootstrap)
    asyncio.run(read_from_start(settings, [TopicPartition(t, p) for t in outputs for p in range(PARTITIONS)], keep))
    latency: dict[str, list[float]] = {"kept": [], "taken": []}
    for key, seconds in first_out.items():
        latency["taken" if partition_for(key, PARTITIONS) in moved else "kept"].append(seconds)
    out: dict[str, Any] = {"leave_moved_partitions": sorted(moved)}
    for side, values in latency.items():
        values.sort()
        out[f"leave_{side}_partitions_events"] = len(values)
        out[f"leave_{side}_partitions_p50_ms"] = round(pick(values, 0.5) * 1000, 1)
        out[f"leave_{side}_partitions_p99_ms"] = round(pick(values, 0.99) * 1000, 1)
        out[f"leave_{side}_partitions_max_ms"] = round(values[-1] * 1000, 1) if values else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start().bootstrap
    app_id = f"bench-sizing-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="sf-sizing-"))
    env = deployment_env(bootstrap, app_id)
    v1 = POLICY.format(version="1", clusters="textile_fashion")
    (work / "v1.yaml").write_text(v1)
    settings = Settings(kafka_bootstrap_servers=bootstrap, app_id=app_id, topic_input=f"{app_id}.new",
                        topic_partitions=PARTITIONS)
    asyncio.run(ensure_topics(settings, [settings.topic_input, settings.topic_state()]))
    asyncio.run(write_states(bootstrap, settings.topic_state(), args.n, pool_states(PolicyBook([parse_policy(v1)]))))
    subprocess.run([sys.executable, "-m", "stream_filter", "policy", "publish", str(work / "v1.yaml")], env=env,
                   check=True, capture_output=True)
    log = work / "workers.log"
    first = Worker(env, work / "a", log)
    second: Worker | None = None
    try:
        cold_s = until(lambda: first.ready_with(PARTITIONS))
        rss_loaded, peak_loaded = first.rss_mb(), peak_rss_mb(first.proc.pid)
        shutdown_s = first.stop()
        disk = disk_mb(work / "a")
        first = Worker(env, work / "a", log)
        warm_s = until(lambda: first.ready_with(PARTITIONS))
        second = Worker(env, work / "b", work / "second.log")
        half = PARTITIONS // 2
        join_s = until(lambda: second is not None and second.ready_with(half) and first.ready_with(half))
        leave = leave_under_traffic(bootstrap, env, first, second, app_id)
        result = {"n": args.n, "partitions": PARTITIONS, "cold_start_to_ready_s": round(cold_s, 1),
                  "sigterm_to_exit_s": round(shutdown_s, 1), "warm_restart_to_ready_s": round(warm_s, 1),
                  "second_worker_join_to_both_ready_s": round(join_s, 1),
                  "rss_after_load_mb": round(rss_loaded, 1),
                  "peak_rss_after_load_mb": round(peak_loaded, 1),
                  "state_on_disk_mb": round(disk, 1), **leave}
    finally:
        for worker in (first, second):
            if worker is not None and worker.proc.poll() is None:
                worker.stop()
        shutil.copyfile(log, Path(tempfile.gettempdir()) / "sizing-workers.log")
        shutil.rmtree(work, ignore_errors=True)
    write_result(result, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
