"""`make run`: the whole service on one machine, with the sample listings flowing through it.

Starts the local broker unless KAFKA_BOOTSTRAP_SERVERS names one, creates the topics, starts the
worker as a child process, publishes the sample listings (`samples.example_lines`, the same
lines as examples/listings.jsonl, so it runs from an installed package too), and prints the decision counts from
/metrics every few seconds. Ctrl-C stops what it started (the worker, and the broker if it
started it) and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stream_filter.dev import local_kafka
from stream_filter.dev.samples import example_lines
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings

POLL_S = 3.0


def _counts(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return "(worker starting...)"
    parts = []
    for line in text.splitlines():
        for prefix, label in (("stream_filter_decisions_total{", ""), ("stream_filter_dead_letters_total{", "dl:")):
            if line.startswith(prefix) and not line.endswith(" 0.0"):
                name = line.split('"')[1]
                parts.append(f"{label}{name}={int(float(line.rsplit(' ', 1)[1]))}")
    return "  ".join(parts) or "(no decisions yet)"


def main() -> int:
    env = dict(os.environ)
    broker: local_kafka.BrokerHandle | None = None
    bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        t0 = time.monotonic()
        broker = local_kafka.start()
        bootstrap = broker.bootstrap
        print(f"local Kafka {'started' if broker.started_here else 'reused'} at {bootstrap} "
              f"in {time.monotonic() - t0:.1f}s", flush=True)
    env["STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    os.environ["STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    settings = Settings()
    asyncio.run(ensure_topics(settings))
    log_path = Path(settings.data_dir) / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sample = Path(settings.data_dir) / "sample-listings.jsonl"
    sample.write_bytes(b"\n".join(example_lines()) + b"\n")
    with log_path.open("ab") as log:  # keep the console for the counts; the worker's own log goes here
        worker = subprocess.Popen([sys.executable, "-m", "stream_filter", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    url = f"http://{settings.web_host}:{settings.web_port}/metrics"
    try:
        subprocess.run([sys.executable, "-m", "stream_filter", "produce", str(sample)], env=env, check=True)
        print(f"worker pid {worker.pid} (log: {log_path}); metrics at {url}")
        print(f"outputs: {', '.join(settings.output_topics().values())}")
        print("Ctrl-C to stop.", flush=True)
        while worker.poll() is None:
            print(f"[{time.strftime('%H:%M:%S')}] {_counts(url)}", flush=True)
            time.sleep(POLL_S)
        return worker.returncode or 1
    except KeyboardInterrupt:
        return 0
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)
        if broker is not None and broker.started_here:
            local_kafka.stop()
            print("local Kafka stopped")
