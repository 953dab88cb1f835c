"""The listing lookup's latency and the time a verdict takes to move a listing, under load.

Steps: two worker processes share a fresh deployment (4 partitions); N listings are decided (a
share of them sent to review); then, while listing updates arrive at `--rate` per second, lookups of
random listings go to either worker (half are routed to the other one), and verdicts on listings in
review are published one by one. Verdict-to-move: from publishing the verdict to the broker's
timestamp of the verdict's decision on its topic (the worker stamps it when it sends). Prints the
figures and writes `bench/results/review.json`.

    python -m bench.review [--n 20000] [--rate 1000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.reevaluation import PARTITIONS, deployment_env, metric
from bench.run import committed, free_port, payloads, pick, produce, stop, write_result
from stream_filter.core.contracts.verdict import ReviewVerdict, Verdict
from stream_filter.dev import local_kafka
from stream_filter.kafka.catalogue import read_catalogue
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings

RESULTS = Path(__file__).parent / "results" / "review.json"
TEXTILE = "Kaos Polos Cotton Combed 30s"  # no origin fields: unknown origin in a closed cluster -> review
VERDICTS = 200


def review_events(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"rv-{i}".encode(), orjson.dumps({
        "schema_version": 1, "event_id": f"rv-{i}-0", "event_type": "listing.created",
        "occurred_at": "2026-11-01T00:00:00Z", "listing_id": f"rv-{i}", "title": TEXTILE})) for i in range(n)]


def assigned(port: int) -> float:
    """The worker's assigned partitions (0 while its web server is not up yet)."""
    try:
        return metric(port, "stream_filter_assigned_partitions")
    except OSError:
        return 0.0


def lookup_ms(port: int, listing_id: str) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/listings/{listing_id}", timeout=10) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    return (time.perf_counter() - started) * 1000, status


async def publish_verdicts(bootstrap: str, topic: str, decisions: dict[str, str]) -> dict[str, float]:
    """One verdict at a time, 20 per second; returns listing id -> when its verdict was acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent: dict[str, float] = {}
    try:
        for listing_id, decision_id in decisions.items():
            verdict = ReviewVerdict(verdict_id=str(uuid.uuid4()), listing_id=listing_id, decision_id=decision_id,
                                    verdict=Verdict.APPROVED, reviewer_id="bench", reason_code="BENCH",
                                    reviewed_at=datetime.now(UTC))
            await producer.send_and_wait(topic, verdict.model_dump_json().encode(), key=listing_id.encode())
            sent[listing_id] = time.time()
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start().bootstrap
    app_id = f"bench-review-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="sf-review-"))
    ports = [free_port(), free_port()]
    base = deployment_env(bootstrap, app_id)
    settings = Settings(**{k.removeprefix("STREAM_FILTER_").lower(): v for k, v in base.items()  # type: ignore[arg-type]
                           if k.startswith("STREAM_FILTER_")})
    asyncio.run(ensure_topics(settings))
    procs = []
    for i, port in enumerate(ports):
        env = {**base, "STREAM_FILTER_WEB_PORT": str(port), "STREAM_FILTER_ADVERTISED_URL": f"http://127.0.0.1:{port}",
               "STREAM_FILTER_DATA_DIR": str(work / f"data-{i}")}
        with open(work / f"w{i}.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "stream_filter", "worker"], env=env, stdout=log,
                                          stderr=log))
    try:
        deadline = time.monotonic() + 120
        while sum(owned := [assigned(p) for p in ports]) < PARTITIONS or min(owned) < 1:
            assert time.monotonic() < deadline, "the workers did not share the partitions"
            time.sleep(0.5)
        listings = payloads(args.n, seed=7, prefix=app_id)
        reviews = review_events(max(VERDICTS, args.n // 10))
        asyncio.run(produce(bootstrap, settings.topic_input, listings + reviews))
        total = len(listings) + len(reviews)
        while asyncio.run(committed(bootstrap, app_id, settings.topic_input, PARTITIONS)) < total:
            time.sleep(0.5)
        queue = asyncio.run(read_catalogue(settings, kinds=("review",), keep=("review",))).records["review"]
        decisions = {lid: queue[lid]["decision_id"] for lid in sorted(lid for lid in queue if lid.startswith("rv-"))
                     [:VERDICTS]}
        ids = [key.decode() for key, _ in listings + reviews]
        wanted = int(args.rate * args.seconds)  # updates for the whole lookup window, each with a new event id
        updates = [(key, value.replace(b'"event_id":"', f'"event_id":"u{i // len(listings)}-'.encode()))
                   for i, (key, value) in enumerate(listings * (wanted // len(listings) + 1))][:wanted]
        load = threading.Thread(target=lambda: asyncio.run(produce(bootstrap, settings.topic_input, updates,
                                                                   rate=args.rate)), daemon=True)
        load.start()
        latencies, statuses = [], []
        stop_at = time.monotonic() + args.seconds
        rng = random.Random(1)
        verdicts_sent: dict[str, float] = {}
        verdict_thread = threading.Thread(target=lambda: verdicts_sent.update(asyncio.run(
            publish_verdicts(bootstrap, settings.topic_review_verdicts, decisions))), daemon=True)
        verdict_thread.start()
        while time.monotonic() < stop_at:
            ms, status = lookup_ms(rng.choice(ports), rng.choice(ids))
            latencies.append(ms)
            statuses.append(status)
        verdict_thread.join()
        moved = asyncio.run(verdict_times(settings, set(decisions)))
        load.join(timeout=args.seconds)
        latencies.sort()
        to_move = sorted(moved[lid] - verdicts_sent[lid] for lid in moved if lid in verdicts_sent)
        result: dict[str, Any] = {
            "listings": total, "update_rate_per_s": args.rate, "lookups": len(latencies),
            "lookup_statuses": dict(Counter(statuses)),  # 404: the 1% malformed listings, dead-lettered
            "lookup_p50_ms": round(pick(latencies, 0.5), 2), "lookup_p99_ms": round(pick(latencies, 0.99), 2),
            "lookup_max_ms": round(latencies[-1], 2) if latencies else None,
            "verdicts": len(decisions), "verdicts_moved": len(to_move),
            "verdict_to_move_p50_ms": round(pick(to_move, 0.5) * 1000, 1),
            "verdict_to_move_p99_ms": round(pick(to_move, 0.99) * 1000, 1)}
    finally:
        for proc in procs:
            stop(proc)
    write_result(result, RESULTS)
    return 0


async def verdict_times(settings: Settings, listing_ids: set[str]) -> dict[str, float]:
    """Listing id -> the broker timestamp (s) of the verdict's decision on the approved topic."""
    from aiokafka import TopicPartition

    from stream_filter.kafka.reading import read_from_start

    found: dict[str, float] = {}

    def keep(_: TopicPartition, record: Any) -> None:
        body = orjson.loads(record.value)
        if body["listing_id"] in listing_ids and body["reasons"][0]["code"] == "REVIEW_VERDICT_APPROVED":
            found.setdefault(body["listing_id"], record.timestamp / 1000)

    deadline = time.monotonic() + 60
    while len(found) < len(listing_ids) and time.monotonic() < deadline:
        found.clear()
        await read_from_start(settings, [TopicPartition(settings.topic_approved, p) for p in range(PARTITIONS)], keep)
        await asyncio.sleep(1)
    return found


if __name__ == "__main__":
    raise SystemExit(main())
