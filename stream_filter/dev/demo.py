"""`make run`: the whole service on one machine, with the sample listings flowing through it.

What a newcomer sees, in order: the broker coming up (the local one unless KAFKA_BOOTSTRAP_SERVERS
names one), the topics, the worker until `/readyz` says it is ready, the sample listings published
(`samples.example_lines`, the lines of examples/listings.jsonl, so it runs from an installed package
too); then one approved, one rejected and one review decision as they arrive on the output topics,
each with its reasons and evidence; then the live counts every few seconds. Ctrl-C stops what it
started (the worker, and the broker if it started it) and prints a summary. The worker's own log
goes to a file, so the console holds only what a person can act on.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from stream_filter.cli.render import example
from stream_filter.dev import local_kafka
from stream_filter.dev.samples import example_lines
from stream_filter.kafka.clients import admin_client, reader
from stream_filter.kafka.topics import ensure_topics, partition_count
from stream_filter.settings import Settings

POLL_S = 3.0
READY_WITHIN_S = 180.0  # a first start restores nothing; this is for a slow machine
EXAMPLES_WITHIN_S = 60.0
SHOWN = ("approved", "rejected", "review")


def step(text: str) -> None:
    print(text, flush=True)


def metric_counts(url: str) -> dict[str, int] | None:
    """Decisions per outcome and dead letters per reason, from the worker's /metrics (None: no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    counts: dict[str, int] = {}
    for line in text.splitlines():
        for prefix, label in (("stream_filter_decisions_total{", ""), ("stream_filter_dead_letters_total{", "dl:")):
            if line.startswith(prefix) and not line.endswith(" 0.0"):
                counts[label + line.split('"')[1]] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def shown(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "(worker not answering)"
    return "  ".join(f"{name}={n}" for name, n in counts.items()) or "(no decisions yet)"


def wait_ready(url: str, worker: subprocess.Popen[bytes]) -> float:
    """Seconds until the worker's /readyz answers 200; raises if the worker exits or takes too long."""
    started = time.monotonic()
    while time.monotonic() - started < READY_WITHIN_S:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=3):
                return time.monotonic() - started
        except (urllib.error.HTTPError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"the worker was not ready within {READY_WITHIN_S:.0f} s")


async def output_ends(settings: Settings) -> dict[TopicPartition, int]:
    """Where the shown output topics end now: the examples are decisions made after this."""
    topics = [settings.output_topics()[kind] for kind in SHOWN]
    async with admin_client(settings) as admin:
        tps = [TopicPartition(t, p) for t in topics for p in range(await partition_count(admin, t) or 0)]
    async with reader(settings) as consumer:
        return dict(await consumer.end_offsets(tps))


async def first_decisions(settings: Settings, start: dict[TopicPartition, int]) -> dict[str, dict[str, Any]]:
    """The first decision of each shown outcome to arrive after `start` (fewer if the time runs out)."""
    kinds = {settings.output_topics()[kind]: kind for kind in SHOWN}
    found: dict[str, dict[str, Any]] = {}
    async with reader(settings) as consumer:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + EXAMPLES_WITHIN_S
        while len(found) < len(SHOWN) and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    if record.value and kinds[tp.topic] not in found:
                        found[kinds[tp.topic]] = orjson.loads(record.value)
    return found


def main() -> int:
    env = dict(os.environ)
    broker: local_kafka.BrokerHandle | None = None
    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
    step("stream-filter: the worker on a local broker with the default policy and the sample listings")
    if not bootstrap:
        step("[1/4] Kafka: starting the local broker (the first run fetches Apache Kafka's jars with Maven)")
        t0 = time.monotonic()
        broker = local_kafka.start()
        bootstrap = broker.bootstrap
        step(f"      {'started' if broker.started_here else 'already running'} at {bootstrap} "
             f"({time.monotonic() - t0:.1f} s)")
    else:
        step(f"[1/4] Kafka: using {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)")
    env["STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    os.environ["STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    settings = Settings()
    created = asyncio.run(ensure_topics(settings))
    step(f"[2/4] topics: {len(created)} created" if created else "[2/4] topics: all present")
    log_path = Path(settings.data_dir) / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sample = Path(settings.data_dir) / "sample-listings.jsonl"
    sample.write_bytes(b"\n".join(example_lines()) + b"\n")
    base = f"http://{settings.web_host}:{settings.web_port}"
    step(f"[3/4] worker: starting (its log: {log_path})")
    with log_path.open("ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "stream_filter", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    counts: dict[str, int] | None = None
    try:
        step(f"      ready in {wait_ready(base + '/readyz', worker):.1f} s; metrics at {base}/metrics")
        start = asyncio.run(output_ends(settings))
        subprocess.run([sys.executable, "-m", "stream_filter", "produce", str(sample)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        step(f"[4/4] published {len(example_lines())} sample listings to {settings.topic_input}")
        found = asyncio.run(first_decisions(settings, start))
        step("\nThree decisions as they arrived (`stream-filter explain ID` asks a worker for any listing):")
        for kind in SHOWN:
            step(f"\n{example(found[kind])}" if kind in found else f"\n(no {kind} decision within "
                                                                  f"{EXAMPLES_WITHIN_S:.0f} s)")
        step(f"\nLive counts every {POLL_S:.0f} s (outputs: {', '.join(settings.output_topics().values())}); "
             "Ctrl-C to stop.")
        last = None
        while worker.poll() is None:
            counts = metric_counts(base + "/metrics")
            if shown(counts) != last:  # a line per change: a quiet screen once everything is decided
                last = shown(counts)
                step(f"[{time.strftime('%H:%M:%S')}] {last}")
            time.sleep(POLL_S)
        step(f"the worker exited with code {worker.returncode}: see {log_path}")
        return worker.returncode or 1
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, also while a client was stopping
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        step(f"stopped: {exc}; see {log_path}")
        return 1
    finally:
        summary(worker, broker, counts)


def summary(worker: subprocess.Popen[bytes], broker: local_kafka.BrokerHandle | None,
            counts: dict[str, int] | None) -> None:
    if worker.poll() is None:
        worker.terminate()
        worker.wait(30)
    decided = sum(n for name, n in (counts or {}).items() if not name.startswith("dl:"))
    dead = sum(n for name, n in (counts or {}).items() if name.startswith("dl:"))
    step(f"\nsummary: {decided} listings decided ({shown(counts) if counts else 'none counted'}), "
         f"{dead} dead-lettered; worker stopped")
    if broker is not None and broker.started_here:
        local_kafka.stop()
        step("local Kafka stopped")
    elif broker is not None:
        step("local Kafka left running (it was running before; `make kafka-down` stops it)")
