"""Sweeps of the worker (the product) over event count and partition count, on a real broker.

Event count: throughput and peak RSS at --small and --large events (200,000 and 1,000,000 by
default; they must stay flat). Partitions: throughput at 1, 4 and 8 input partitions (--n each).
The lexicon-size sweep is in `bench/core.py` (`make bench-core`). Prints a table and writes
`bench/results/sweep.json`; asserts nothing.

    python -m bench.sweep [--small 200000 --large 1000000 --n 50000 --partitions 1,4,8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from typing import Any

from bench.run import RESULTS, create_topics, payloads, produce, throughput_run
from stream_filter.dev import local_kafka

WARMUP_SHARE = 0.1
CHUNK = 100_000  # events are produced in chunks so the load generator's memory stays small


def _prepare(bootstrap: str, n: int, partitions: int) -> str:
    topic = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topics(bootstrap, [topic], partitions))
    for start in range(0, n, CHUNK):
        asyncio.run(produce(bootstrap, topic, payloads(min(CHUNK, n - start), 1 + start, f"s{start}")))
    return topic


def _run(bootstrap: str, kind: str, n: int, partitions: int) -> dict[str, Any]:
    topic = _prepare(bootstrap, n, partitions)
    warmup = int(n * WARMUP_SHARE)
    r = throughput_run(kind, bootstrap, topic, warmup, n, partitions, RESULTS / "sweep.log", 300 + n / 200)
    row = {"variant": kind, "events": n, "partitions": partitions, "rate": round(r["rate"]),
           "peak_rss_mb": round(r["rss_mb"], 1)}
    print(f"  {kind:>6} events {n:>9,} partitions {partitions}: {r['rate']:8,.0f} listings/s, "
          f"peak RSS {r['rss_mb']:.0f} MB", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=200_000)
    p.add_argument("--large", type=int, default=1_000_000)
    p.add_argument("--n", type=int, default=50_000, help="events per partition-sweep run")
    p.add_argument("--partitions", default="1,4,8")
    p.add_argument("--variant", default="worker")
    args = p.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start().bootstrap
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = [_run(bootstrap, args.variant, n, 4) for n in (args.small, args.large)]
    rows += [_run(bootstrap, args.variant, args.n, int(k)) for k in args.partitions.split(",") if k]
    small, large = rows[0], rows[1]
    flat = {"rate_ratio": round(large["rate"] / max(small["rate"], 1), 3),
            "rss_ratio": round(large["peak_rss_mb"] / max(small["peak_rss_mb"], 1), 3)}
    print("\n| variant | events | partitions | listings/s | peak RSS |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['events']:,} | {r['partitions']} | {r['rate']:,} | {r['peak_rss_mb']:.0f} MB |")
    print(f"\nlarge/small: throughput x{flat['rate_ratio']}, peak RSS x{flat['rss_ratio']} "
          f"({'within' if abs(flat['rss_ratio'] - 1) <= 0.10 else 'beyond'} 10%)")
    (RESULTS / "sweep.json").write_text(json.dumps({"runs": rows, "large_vs_small": flat}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
