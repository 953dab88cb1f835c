"""Load test: 1% of listings carry oversized lists; do the others and the web pages notice?

Two runs side by side at the same rate, each with a fresh worker: clean listings only, then the same
listings with 1% replaced by oversized ones (half with an 80,000-level category_path, refused at
decode as TOO_MANY_ITEMS; half with a 40,000-element extra list, which passes: extra fields are
bounded only by the record size). Prints the p50/p99 event-to-output latency of the clean listings
and how long `/metrics` and `/readyz` took to answer while it ran (polled every 0.25 s).

    python -m bench.oversized --rate 800 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import orjson

from bench.run import RESULTS, arrivals, create_topics, free_port, output_topics, payloads, pick, start_variant, stop
from stream_filter.dev import local_kafka

SCRAPE_EVERY_S = 0.25


def oversized(records: list[tuple[bytes, bytes]], every: int) -> tuple[list[tuple[bytes, bytes]], set[bytes]]:
    out, keys = [], set()
    for i, (key, value) in enumerate(records):
        if i % every == every // 2:
            event = orjson.loads(value) if value.startswith(b"{") else {}
            if i // every % 2:
                event["category_path"] = [f"c{n}" for n in range(80_000)]
            else:
                event["attributes"] = [f"a{n}" for n in range(40_000)]
            value = orjson.dumps(event)
            keys.add(key)
        out.append((key, value))
    return out, keys


class Scraper(threading.Thread):
    """GETs the pages in turn while the load runs; keeps each answer's time (a timeout counts as 5 s)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stopping = port, threading.Event()
        self.times: dict[str, list[float]] = {"/metrics": [], "/readyz": []}

    def run(self) -> None:
        while not self.stopping.is_set():
            for path, times in self.times.items():
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                        resp.read()
                except urllib.error.HTTPError:
                    pass  # 503 from /readyz is an answer
                except OSError:
                    times.append(5.0)
                    continue
                times.append(time.perf_counter() - started)
            self.stopping.wait(SCRAPE_EVERY_S)


def one_run(bootstrap: str, records: list[tuple[bytes, bytes]], skip: set[bytes], rate: float,
            partitions: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    topic_in, group, prefix = f"bench-big-{run}", f"bench-big-{run}", f"bench-big-out-{run}"
    outs = output_topics("worker", prefix)
    asyncio.run(create_topics(bootstrap, [topic_in, *outs], partitions))
    port = free_port()
    proc = start_variant("worker", bootstrap, topic_in, prefix, group, RESULTS / "oversized.log", web_port=port)
    scraper = Scraper(port)
    try:
        time.sleep(10)  # joined the group before the clock starts
        scraper.start()
        arrived = asyncio.run(arrivals(bootstrap, topic_in, outs, records, rate, 60))
    finally:
        scraper.stopping.set()
        stop(proc, group)
    clean = sorted(v for k, v in arrived.items() if k not in skip)
    pages = {path: sorted(times) for path, times in scraper.times.items()}
    return {"p50": pick(clean, 0.5), "p99": pick(clean, 0.99), "received": len(clean) / (len(records) - len(skip)),
            **{f"{path} p99": pick(times, 0.99) for path, times in pages.items()},
            **{f"{path} max": max(times, default=float("nan")) for path, times in pages.items()},
            "scrapes": len(pages["/metrics"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=800.0, help="listings per second")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--every", type=int, default=100, help="one oversized listing in this many")
    args = p.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start().bootstrap
    base = payloads(int(args.rate * args.seconds), 3, f"big{uuid.uuid4().hex[:6]}")
    mixed, big = oversized(base, args.every)
    sizes = [len(v) for k, v in mixed if k in big]
    print(f"{len(base):,} listings at {args.rate:,.0f}/s; {len(big)} oversized "
          f"({statistics.mean(sizes) / 1024:,.0f} KiB mean)")
    rows = {"clean": one_run(bootstrap, base, set(), args.rate, args.partitions),
            f"1 in {args.every} oversized": one_run(bootstrap, mixed, big, args.rate, args.partitions)}
    print("\n| run | p50 ms | p99 ms | received | /metrics p99 ms | /metrics max ms | /readyz p99 ms | "
          "/readyz max ms | scrapes |\n|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['p50'] * 1000:.0f} | {r['p99'] * 1000:.0f} | {r['received']:.1%} | "
              f"{r['/metrics p99'] * 1000:.0f} | {r['/metrics max'] * 1000:.0f} | {r['/readyz p99'] * 1000:.0f} | "
              f"{r['/readyz max'] * 1000:.0f} | {r['scrapes']} |")
    (RESULTS / "oversized.json").write_text(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
