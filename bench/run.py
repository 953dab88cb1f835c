"""`make bench`: stream-filter's worker side by side with the raw client and a peer framework.

Pre-produces realistic listings (~1.2 KB, 1% malformed) to a 4-partition topic, then runs each
variant (raw passthrough, raw + core, the stream-filter worker, Quix Streams doing the worker's
work, Quix Streams with the core only) as its own process, interleaved and repeated, each with a
fresh consumer group. Throughput is measured from the broker:
the time for the group's committed offsets to go from the warm-up mark to the end (so only
delivered-and-committed work counts). Latency is measured open-loop at 50% and 80% of each
variant's own throughput: events are produced on a schedule with their scheduled time as record
timestamp, and latency is the output's arrival time at a consumer minus the scheduled time. Prints a table, writes
JSON and a PNG chart to bench/results/. Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stream_filter.dev import local_kafka
from stream_filter.dev.samples import MALFORMED, generate

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("raw", "core", "worker", "quix", "quix-core", "faust", "confluent")
OUTPUTS = ("approved", "rejected", "review", "dead-letter")  # the worker's and the peer's output topics
PADDING = ("Bahan berkualitas, jahitan rapi, dikirim dari gudang kami setiap hari kerja. Garansi tukar "
           "ukuran tujuh hari. Cocok untuk hadiah dan pemakaian sehari-hari. ")
POLL_S = 0.2


def payloads(n: int, seed: int, prefix: str) -> list[tuple[bytes, bytes]]:
    """~1.2 KB listing events keyed by listing id; 1% malformed."""
    out = []
    for i, s in enumerate(generate(n, seed=seed, prefix=prefix)):
        if i % 100 == 99:
            out.append((s.event["listing_id"].encode(), MALFORMED[i % len(MALFORMED)][0]))
            continue
        event = dict(s.event, description=PADDING * 5, brand="Toko Maju", category_path=["Semua", "Lainnya"])
        out.append((s.event["listing_id"].encode(), orjson.dumps(event)))
    return out


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], rate: float | None = None,
                  start: float | None = None) -> None:
    """All records as fast as possible, or open-loop at `rate`/s with the scheduled time as timestamp."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1, max_request_size=4_194_304)
    await producer.start()
    try:
        start = start or time.time()
        futures = []
        for i, (key, value) in enumerate(records):
            scheduled = start + i / rate if rate else None
            if scheduled is not None and (delay := scheduled - time.time()) > 0:
                await asyncio.sleep(delay)
            ts = int((scheduled or time.time()) * 1000)
            futures.append(await producer.send(topic, value, key=key, timestamp_ms=ts))
            if len(futures) >= (50 if rate else 5000):
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
        return sum(max(0, m.offset) for m in offsets.values() if m is not None)
    except Exception:  # noqa: BLE001 - the group may not exist yet
        return 0
    finally:
        await admin.close()


def start_variant(kind: str, bootstrap: str, topic_in: str, out_prefix: str, group: str, log: Path,
                  web_port: int | None = None) -> Any:
    if kind == "worker":
        env = {**os.environ, "STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STREAM_FILTER_APP_ID": group,
               "STREAM_FILTER_TOPIC_INPUT": topic_in, "STREAM_FILTER_TOPIC_APPROVED": f"{out_prefix}.approved",
               "STREAM_FILTER_TOPIC_REJECTED": f"{out_prefix}.rejected",
               "STREAM_FILTER_TOPIC_REVIEW": f"{out_prefix}.review",
               "STREAM_FILTER_TOPIC_DEAD_LETTER": f"{out_prefix}.dead-letter",
               "STREAM_FILTER_TOPIC_REVIEW_VERDICTS": f"{out_prefix}.review-verdicts",
               "STREAM_FILTER_WEB_PORT": str(web_port or free_port()),
               "STREAM_FILTER_DATA_DIR": str(Path(tempfile.gettempdir()) / group),
               "STREAM_FILTER_DEDUPE_WINDOW": "0"}
        cmd = [sys.executable, "-m", "stream_filter", "worker"]
    else:
        env = dict(os.environ)
        out = out_prefix if kind == "quix" else f"{out_prefix}.out"
        cmd = [sys.executable, "-m", "bench.variants", kind, bootstrap, topic_in, out, group]
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1])


def output_topics(kind: str, prefix: str) -> list[str]:
    return [f"{prefix}.{k}" for k in OUTPUTS] if kind in ("worker", "quix") else [f"{prefix}.out"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def stop(proc: Any, group: str | None = None) -> None:
    """Stop a variant and remove its local state (the worker's data dir, Quix's state dir)."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if group:
        shutil.rmtree(Path(tempfile.gettempdir()) / group, ignore_errors=True)


def throughput_run(kind: str, bootstrap: str, topic_in: str, warmup: int, total: int, partitions: int,
                   log: Path, timeout_s: float) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    group, prefix = f"bench-{kind}-{run}", f"bench-out-{kind}-{run}"
    if kind != "worker":  # the worker creates its own four output topics
        asyncio.run(create_topics(bootstrap, output_topics(kind, prefix), partitions))
    proc = start_variant(kind, bootstrap, topic_in, prefix, group, log)
    t_warm = t_end = None
    rss = 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            done = asyncio.run(committed(bootstrap, group, topic_in, partitions))
            now = time.monotonic()
            rss = max(rss, peak_rss_mb(proc.pid))
            if t_warm is None and done >= warmup:
                t_warm = now
            if done >= total:
                t_end = now
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited early; see {log}")
            time.sleep(POLL_S)
    finally:
        stop(proc, group)
    if t_warm is None or t_end is None:
        return {"rate": float("nan"), "rss_mb": rss}
    return {"rate": (total - warmup) / max(t_end - t_warm, 1e-9), "rss_mb": rss}


async def open_loop(bootstrap: str, topic_in: str, outputs: list[str], records: list[tuple[bytes, bytes]],
                    rate: float, timeout_s: float) -> list[float]:
    return sorted((await arrivals(bootstrap, topic_in, outputs, records, rate, timeout_s)).values())


async def arrivals(bootstrap: str, topic_in: str, outputs: list[str], records: list[tuple[bytes, bytes]],
                   rate: float, timeout_s: float) -> dict[bytes, float]:
    """Produce on schedule while a consumer of the outputs notes when each key arrives (wall clock).

    Latency = arrival time - scheduled send time, so a producer or variant falling behind schedule
    shows up as latency (no coordinated omission). Output record timestamps are not used: some
    frameworks copy the input's timestamp to their output."""
    consumer = AIOKafkaConsumer(*outputs, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest",
                                fetch_max_wait_ms=5)
    await consumer.start()
    await consumer.seek_to_end()
    start = time.time() + 0.5
    scheduled = {key: start + i / rate for i, (key, _) in enumerate(records)}
    arrived: dict[bytes, float] = {}

    async def consume() -> None:
        deadline = time.monotonic() + len(records) / rate + timeout_s
        while len(arrived) < len(records) and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=100, max_records=5000)).values():
                now = time.time()
                for m in msgs:
                    if m.key in scheduled and m.key not in arrived:
                        arrived[m.key] = now - scheduled[m.key]

    try:
        await asyncio.sleep(max(0.0, start - time.time()))
        await asyncio.gather(produce(bootstrap, topic_in, records, rate, start), consume())
    finally:
        await consumer.stop()
    return arrived


def write_result(result: dict[str, Any], path: Path) -> None:
    """Print a benchmark's figures and keep them in `bench/results/`."""
    print(json.dumps(result, indent=2))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def pick(values: list[float], q: float) -> float:
    """The q-quantile of sorted values (nan when there are none)."""
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def latency_run(kind: str, bootstrap: str, rate: float, seconds: float, partitions: int, log: Path,
                seed: int) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    topic_in, group, prefix = f"bench-lat-{kind}-{run}", f"bench-lat-{kind}-{run}", f"bench-lat-out-{kind}-{run}"
    records = payloads(int(rate * seconds), seed, f"lat{run}")
    outs = output_topics(kind, prefix)
    asyncio.run(create_topics(bootstrap, [topic_in, *outs], partitions))
    proc = start_variant(kind, bootstrap, topic_in, prefix, group, log)
    try:
        time.sleep(10 if kind in ("worker", "quix") else 4)  # let it join the group before the clock starts
        values = asyncio.run(open_loop(bootstrap, topic_in, outs, records, rate, 60))
    finally:
        stop(proc, group)
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"), "received": 0}
    return {"p50": pick(values, 0.5), "p99": pick(values, 0.99), "p999": pick(values, 0.999),
            "received": len(values) / len(records)}


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in results["variants"] if k in results["throughput"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rates = [statistics.median(results["throughput"][k]["rates"]) for k in kinds]
    left.bar(kinds, rates, color=["#888", "#5a8", "#d62", "#58c", "#9bd", "#b8a", "#cb6"][: len(kinds)])
    left.set_title(f"throughput (listings/s, median of {results['repeats']})")
    for i, r in enumerate(rates):
        left.text(i, r, f"{r:,.0f}", ha="center", va="bottom")
    width = 0.2
    for j, q in enumerate(("p50", "p99", "p999")):
        values = [results["latency"].get(k, {}).get("50%", {}).get(q, float("nan")) * 1000 for k in kinds]
        right.bar([i + (j - 1) * width for i in range(len(kinds))], values, width, label=q)
    right.set_xticks(range(len(kinds)), kinds)
    right.set_yscale("log")
    right.set_title("end-to-end latency at 50% of own max (ms)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="measured events")
    p.add_argument("--warmup", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--latency-seconds", type=float, default=10.0, help="0 skips the latency runs")
    p.add_argument("--rates", default="", help="skip throughput runs: kind=rate,... (reuse measured maxima)")
    args = p.parse_args(argv)
    kinds = [k for k in args.variants.split(",") if k]
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "variants.log"
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or local_kafka.start().bootstrap
    topic_in = f"bench-in-{uuid.uuid4().hex[:8]}"
    total = args.warmup + args.n
    if not args.rates:
        print(f"broker {bootstrap}; pre-producing {total:,} events to {topic_in} ({args.partitions} partitions)...")
        asyncio.run(create_topics(bootstrap, [topic_in], args.partitions))
        records = payloads(total, 1, "bench")
        print(f"  mean value size {sum(len(v) for _, v in records) / len(records):,.0f} bytes")
        asyncio.run(produce(bootstrap, topic_in, records))
        del records
    results: dict[str, Any] = {"n": args.n, "warmup": args.warmup, "repeats": args.repeats,
                               "partitions": args.partitions, "variants": kinds, "throughput": {}, "latency": {}}
    if args.rates:  # latency only, at given maxima
        for item in args.rates.split(","):
            kind, rate = item.split("=")
            results["throughput"][kind] = {"rates": [float(rate)], "rss_mb": [float("nan")]}
        args.repeats = 0
    for repeat in range(args.repeats):  # interleaved: each repeat runs every variant once
        for kind in kinds:
            timeout = 120 + total / 300
            r = throughput_run(kind, bootstrap, topic_in, args.warmup, total, args.partitions, log, timeout)
            entry = results["throughput"].setdefault(kind, {"rates": [], "rss_mb": []})
            entry["rates"].append(r["rate"])
            entry["rss_mb"].append(r["rss_mb"])
            print(f"  repeat {repeat + 1} {kind:>9}: {r['rate']:9,.0f} listings/s, peak RSS {r['rss_mb']:.0f} MB")
    if args.latency_seconds > 0:
        for kind in kinds:
            rate = statistics.median(results["throughput"][kind]["rates"])
            for share in (0.5, 0.8):
                lat = latency_run(kind, bootstrap, rate * share, args.latency_seconds, args.partitions, log, 2)
                results["latency"].setdefault(kind, {})[f"{int(share * 100)}%"] = {**lat, "rate": rate * share}
                print(f"  latency {kind:>9} at {int(share * 100)}% ({rate * share:,.0f}/s): "
                      f"p50 {lat['p50'] * 1000:.1f} ms, p99 {lat['p99'] * 1000:.1f} ms, "
                      f"p99.9 {lat['p999'] * 1000:.1f} ms, received {lat['received']:.0%}")
    print_table(results)
    if sorted(kinds) != sorted(VARIANTS) or args.rates or args.latency_seconds <= 0:
        # a partial run (some variants, reused rates, no latency) must not replace the published results
        partial = Path(tempfile.gettempdir()) / "stream-filter-bench-partial.json"
        partial.write_text(json.dumps(results, indent=2))
        print(f"partial run: results in {partial} (bench/results/ left as it was)")
        return 0
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2))
    chart(results, RESULTS / "chart.png")
    print(f"results: {RESULTS / 'results.json'}, chart: {RESULTS / 'chart.png'}")
    return 0


def print_table(results: dict[str, Any]) -> None:
    th = results["throughput"]
    med = {k: statistics.median(v["rates"]) for k, v in th.items()}
    raw, peer = med.get("raw"), med.get("quix")
    print(f"\n{'variant':<9} {'listings/s':>11} {'spread':>7} {'vs raw':>7} {'vs quix':>8} {'peak RSS':>9} "
          f"{'p50@50%':>8} {'p99@50%':>8} {'p99@80%':>8}")
    for kind, rate in med.items():
        rates = th[kind]["rates"]
        spread = (max(rates) - min(rates)) / rate if rate else float("nan")
        lat = results["latency"].get(kind, {})

        def ms(share: str, q: str, lat: dict[str, Any] = lat) -> float:
            return float(lat.get(share, {}).get(q, float("nan"))) * 1000

        flag = " (>10%)" if spread > 0.10 else ""
        print(f"{kind:<9} {rate:11,.0f} {spread:6.1%}{flag} {rate / raw if raw else float('nan'):6.2f}x "
              f"{rate / peer if peer else float('nan'):7.2f}x {max(th[kind]['rss_mb']):7.0f}MB "
              f"{ms('50%', 'p50'):7.1f}ms {ms('50%', 'p99'):7.1f}ms {ms('80%', 'p99'):7.1f}ms")


if __name__ == "__main__":
    sys.exit(main())
