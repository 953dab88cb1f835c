"""How long retroactive enforcement takes over N active listings (default 1,000,000), on a real broker.

Steps: decide a pool of realistic listings under policy v1 (textiles closed), clone it to N listing
states, write them to a fresh deployment's state changelog (4 partitions), publish v1 to its policy
topic and start one worker process. The worker loads the states and makes its first pass (every
listing already decided under v1: a resumed pass only compares versions). Then publish v2 (food
closed too): the worker decides every listing again and sends a revocation plus a withdrawal for
each one that changes. Prints the figures and writes `bench/results/reevaluation.json`.

    python -m bench.reevaluation [--n 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.run import free_port, peak_rss_mb, stop, write_result
from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.route import route
from stream_filter.dev import local_kafka
from stream_filter.dev.samples import generate
from stream_filter.kafka.partitioning import partition_for
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings

POLICY = """id: bench
version: "{version}"
effective_from: 2021-01-01
blocked_clusters:
  - clusters: [{clusters}]
    reason: {{code: CLUSTER_BLOCKED_CROSS_BORDER, legal_basis: bench, message: "{{cluster}} closed"}}
"""
PARTITIONS = 4
POOL = 5_000
RESULTS = Path(__file__).parent / "results" / "reevaluation.json"


def deployment_env(bootstrap: str, app_id: str) -> dict[str, str]:
    names = {"INPUT": "new", "APPROVED": "approved", "REJECTED": "rejected", "REVIEW": "review",
             "DEAD_LETTER": "dead-letter", "POLICY": "policy", "SHADOW_DIFF": "shadow-diff",
             "REVIEW_VERDICTS": "review-verdicts"}
    return {**os.environ, "STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STREAM_FILTER_APP_ID": app_id,
            "STREAM_FILTER_TOPIC_PARTITIONS": str(PARTITIONS),
            **{f"STREAM_FILTER_TOPIC_{key}": f"{app_id}.{name}" for key, name in names.items()}}


def pool_states(book: PolicyBook) -> list[ListingState]:
    states = []
    for sample in generate(POOL, seed=3, prefix="pool"):
        routed = route(sample.event["listing_id"].encode(), sample.line(), book)
        step = advance(routed, None, 0)
        if step.state is not None:
            states.append(step.state)
    return states


async def write_states(bootstrap: str, topic: str, n: int, pool: list[ListingState]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1_048_576,
                                compression_type=None)
    await producer.start()
    try:
        pending = []
        for i in range(n):
            base = pool[i % len(pool)]
            listing_id = f"bench-{i}"
            state = replace(base, listing_id=listing_id, partition=partition_for(listing_id.encode(), PARTITIONS),
                            listing={**base.listing, "listing_id": listing_id})
            pending.append(await producer.send(topic, state.to_bytes(), key=listing_id.encode(),
                                               partition=state.partition))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and (line[len(name)] in " {"))


def wait_for(port: int, name: str, at_least: float, proc: subprocess.Popen[bytes], limit_s: float) -> float:
    started = time.monotonic()
    while True:
        try:
            if metric(port, name) >= at_least:
                return time.monotonic() - started
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"worker exited with {proc.returncode}")
        if time.monotonic() - started > limit_s:
            raise SystemExit(f"timed out waiting for {name} >= {at_least}")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start().bootstrap
    run = uuid.uuid4().hex[:8]
    app_id = f"bench-reeval-{run}"
    work = Path(tempfile.mkdtemp(prefix="sf-reeval-"))
    v1, v2 = (POLICY.format(version=v, clusters=c) for v, c in (("1", "textile_fashion"),
                                                                  ("2", "textile_fashion, food_beverage")))
    (work / "v1.yaml").write_text(v1)
    (work / "v2.yaml").write_text(v2)
    pool = pool_states(PolicyBook([parse_policy(v1)]))
    port = free_port()
    env = {**deployment_env(bootstrap, app_id), "STREAM_FILTER_WEB_PORT": str(port),
           "STREAM_FILTER_DATA_DIR": str(work / "data")}
    settings = Settings(kafka_bootstrap_servers=bootstrap, app_id=app_id, topic_input=f"{app_id}.new",
                        topic_partitions=PARTITIONS)
    asyncio.run(ensure_topics(settings, [settings.topic_input, settings.topic_state()]))  # the changelog compacted
    started = time.monotonic()
    asyncio.run(write_states(bootstrap, settings.topic_state(), args.n, pool))
    written_s = time.monotonic() - started
    cli = [sys.executable, "-m", "stream_filter", "policy"]
    subprocess.run([*cli, "publish", str(work / "v1.yaml")], env=env, check=True, capture_output=True)
    with open(work / "worker.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "stream_filter", "worker"], env=env, stdout=log, stderr=log)
    try:
        first_s = wait_for(port, "stream_filter_reevaluation_passes_total", 1, proc, 3600)
        first_pass_s = metric(port, "stream_filter_reevaluation_last_duration_seconds")
        rss_loaded = peak_rss_mb(proc.pid)
        published = time.monotonic()
        subprocess.run([*cli, "publish", str(work / "v2.yaml")], env=env, check=True, capture_output=True)
        wait_for(port, "stream_filter_reevaluation_passes_total", 2, proc, 3600)
        after_publish_s = time.monotonic() - published
        result = {"n": args.n, "partitions": PARTITIONS, "write_changelog_s": round(written_s, 1),
                  "start_to_first_pass_done_s": round(first_s, 1), "first_pass_s": round(first_pass_s, 1),
                  "policy_change_pass_s": round(metric(port, "stream_filter_reevaluation_last_duration_seconds"), 1),
                  "publish_to_pass_done_s": round(after_publish_s, 1),
                  "reevaluated": int(metric(port, "stream_filter_reevaluated_total")),
                  "changed": int(metric(port, "stream_filter_reevaluation_changes_total")),
                  "active": int(metric(port, "stream_filter_active_listings")),
                  "peak_rss_mb": round(max(rss_loaded, peak_rss_mb(proc.pid)), 1)}
    finally:
        stop(proc)
    result["listings_per_s"] = round(result["reevaluated"] / max(result["policy_change_pass_s"], 1e-9))
    write_result(result, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
