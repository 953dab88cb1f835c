"""Helpers for broker tests: unique names, a worker subprocess, draining topics.

Timeouts are named constants: the machine has 2 cores shared by the JVM broker, the worker and
pytest, so they are generous, and every wait asks the broker or the worker (never a bare sleep).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_filter.core.catalogue import Catalogue
from stream_filter.dev.samples import MALFORMED, generate
from stream_filter.kafka.catalogue import read_catalogue
from stream_filter.settings import Settings

DRAIN_TIMEOUT_S = 180.0  # 1,000+ events through a cold Faust worker on 2 cores, with margin
WORKER_HTTP_TIMEOUT_S = 60.0  # Faust start-up: imports, group join, web server
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_of(env: dict[str, str]) -> Settings:
    """The Settings a worker started with these `STREAM_FILTER_*` variables would read."""
    return Settings(**{k.removeprefix("STREAM_FILTER_").lower(): v for k, v in env.items()})  # type: ignore[arg-type]


@dataclass
class Names:
    """Unique app id and topic names for one test, so tests never see each other's records."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def app_id(self) -> str:
        return f"sf-test-{self.suffix}"

    def topic(self, kind: str) -> str:
        return f"t-{self.suffix}.{kind}"

    def env(self, bootstrap: str, **extra: str) -> dict[str, str]:
        env = {
            "STREAM_FILTER_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STREAM_FILTER_APP_ID": self.app_id,
            "STREAM_FILTER_TOPIC_INPUT": self.topic("new"), "STREAM_FILTER_TOPIC_APPROVED": self.topic("approved"),
            "STREAM_FILTER_TOPIC_REJECTED": self.topic("rejected"), "STREAM_FILTER_TOPIC_REVIEW": self.topic("review"),
            "STREAM_FILTER_TOPIC_DEAD_LETTER": self.topic("dead-letter"),
            "STREAM_FILTER_TOPIC_POLICY": self.topic("policy"),
            "STREAM_FILTER_TOPIC_SHADOW_DIFF": self.topic("shadow-diff"),
            "STREAM_FILTER_TOPIC_REVIEW_VERDICTS": self.topic("review-verdicts"),
        }
        env.update(extra)
        return env

    def settings(self, bootstrap: str, **extra: str) -> Settings:
        """The same configuration as `env`, as the Settings a test's own clients use."""
        return settings_of(self.env(bootstrap, **extra))

    def outputs(self) -> dict[str, str]:
        return {k: self.topic(k.replace("_", "-")) for k in ("approved", "rejected", "review", "dead_letter")}


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


async def _drain(bootstrap: str, topics: list[str], expected: int, timeout_s: float,
                 client: dict[str, Any], identity: Callable[[Record], Any] | None) -> list[Record]:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, **client)
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        ids: set[Any] = set()
        while (len(ids) if identity else len(records)) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for msgs in batch.values():
                new = [Record(m.topic, m.partition, m.offset, m.key, m.value, dict(m.headers)) for m in msgs]
                records += new
                if identity:
                    ids.update(identity(r) for r in new)
        # one more short poll: anything beyond `expected` is a duplicate the test must see
        for msgs in (await consumer.getmany(timeout_ms=1000)).values():
            records += [Record(m.topic, m.partition, m.offset, m.key, m.value, dict(m.headers)) for m in msgs]
    finally:
        await consumer.stop()
    return records


def drain(bootstrap: str, topics: list[str], expected: int, timeout_s: float = DRAIN_TIMEOUT_S,
          identity: Callable[[Record], Any] | None = None, **client: Any) -> list[Record]:
    """Read the topics from the beginning until `expected` records (or, with `identity`, that many
    distinct identities: replays do not count) arrived or the timeout passed.

    `client`: extra aiokafka options (security settings for a secured listener)."""
    return asyncio.run(_drain(bootstrap, topics, expected, timeout_s, client, identity))


def event_identity(record: Record) -> str:
    """A decision's event id, or a dead letter's source position: what a replay repeats."""
    if "error-code" in record.headers:
        return f"dl@{record.headers.get('source-partition', b'')!r}/{record.headers.get('source-offset', b'')!r}"
    return str(orjson.loads(record.value or b"")["event_id"])


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        ends = await consumer.end_offsets(parts)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    return asyncio.run(_end_offsets(bootstrap, topic))


def committed_lag(bootstrap: str, group: str, topic: str) -> int:
    """End offsets minus the group's committed offsets, summed over the topic's partitions."""
    return asyncio.run(_lag(bootstrap, group, topic, end_offsets(bootstrap, topic)))


async def _lag(bootstrap: str, group: str, topic: str, ends: dict[int, int]) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        lag = 0
        for partition, end in ends.items():
            lag += end - (await consumer.committed(TopicPartition(topic, partition)) or 0)
        return lag
    finally:
        await consumer.stop()


class WorkerProcess:
    """`stream-filter worker` as a subprocess with its own env; its output goes to a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = int(env.get("STREAM_FILTER_WEB_PORT") or free_port())
        self.env = {**os.environ, **env, "STREAM_FILTER_WEB_PORT": str(self.port),
                    "STREAM_FILTER_DATA_DIR": str(log_path.parent / f"data-{self.port}")}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "stream_filter", "worker"], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def base_url(self) -> str:
        """The worker's web server as this machine reaches it (https when it serves a certificate)."""
        scheme = "https" if self.env.get("STREAM_FILTER_WEB_TLS_CERTFILE") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def tls(self) -> ssl.SSLContext | None:
        cafile = self.env.get("STREAM_FILTER_WEB_TLS_CAFILE")
        return ssl.create_default_context(cafile=cafile) if self.env.get("STREAM_FILTER_WEB_TLS_CERTFILE") else None

    def get(self, path: str, timeout_s: float = WORKER_HTTP_TIMEOUT_S) -> str:
        """GET a page of the worker's web server, waiting until it answers."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"worker exited early:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}{path}", timeout=5, context=self.tls) as resp:
                    return str(resp.read().decode())
            except OSError as exc:
                last = exc
                time.sleep(0.3)
        raise AssertionError(f"worker web server did not answer {path}: {last}")

    def status(self, path: str) -> tuple[int, dict[str, Any]]:
        """A health page's HTTP status and JSON body (503 is an answer here, not an error)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                return int(resp.status), orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), orjson.loads(exc.read())

    def wait_status(self, path: str, wanted: Callable[[int, dict[str, Any]], bool], timeout_s: float,
                    what: str) -> float:
        """Poll a health page until `wanted`; returns the seconds it took."""
        started = time.monotonic()
        while True:
            assert self.alive(), f"worker exited while waiting for {what}:\n{self.log()[-3000:]}"
            try:
                code, body = self.status(path)
                if wanted(code, body):
                    return time.monotonic() - started
            except OSError:
                code, body = 0, {}
            assert time.monotonic() - started < timeout_s, f"{what}: not within {timeout_s}s ({code} {body})"
            time.sleep(0.5)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"worker did not stop within {timeout_s}s") from None
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`, from a /metrics scrape."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def wait_until_shared(workers: list[WorkerProcess], partitions: int, timeout_s: float = WORKER_HTTP_TIMEOUT_S) -> None:
    """Until every worker owns at least one input partition and together they own all of them
    (asked of the workers' own metrics), so no rebalance happens once records flow."""
    deadline = time.monotonic() + timeout_s
    while True:
        owned = [metric_value(w.get("/metrics"), "stream_filter_assigned_partitions") for w in workers]
        if min(owned) >= 1 and sum(owned) == partitions:
            return
        assert time.monotonic() < deadline, f"the group never shared the {partitions} partitions: {owned}"
        time.sleep(0.3)


def catalogue_of(bootstrap: str, names: Names) -> Catalogue:
    """The catalogue a consumer builds from the test's output topics as they are now."""
    return asyncio.run(read_catalogue(names.settings(bootstrap)))


def lag_by_partition(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """End offset minus the group's committed offset, per partition (what a timeout reports)."""
    ends = end_offsets(bootstrap, topic)
    return {p: asyncio.run(_lag(bootstrap, group, topic, {p: end})) for p, end in sorted(ends.items())}


def listing_events(prefix: str, n: int, keys: int, delete_every: int = 0, poison_every: int = 0,
                   seed: int = 42) -> tuple[list[tuple[bytes, bytes]], set[str]]:
    """Keyed events for `keys` listings, several each, whose outcomes alternate (each event draws its
    seller's origin anew) with a `seq` per listing; every `delete_every`-th a deletion, every
    `poison_every`-th a malformed record. Returns the records and the deletions' event ids."""
    records, deletions = [], set()
    per_key: Counter[str] = Counter()
    for i, sample in enumerate(generate(n, seed=seed, prefix=prefix)):
        listing = f"{prefix}-k{i % keys}"
        seq = per_key[listing]
        per_key[listing] += 1
        event = dict(sample.event, listing_id=listing, event_type="listing.created" if seq == 0 else "listing.updated",
                     seq=seq)
        if delete_every and i % delete_every == delete_every - 1:
            event = {k: event[k] for k in ("schema_version", "event_id", "listing_id", "occurred_at")}
            event["event_type"] = "listing.deleted"
            deletions.add(event["event_id"])
        poison = poison_every and i % poison_every == poison_every - 1
        records.append((listing.encode(), MALFORMED[i % len(MALFORMED)][0] if poison else orjson.dumps(event)))
    return records, deletions


def wait_caught_up(bootstrap: str, names: Names, worker: WorkerProcess, partitions: int | None = None) -> None:
    """Until the worker's group has committed every input record (and, with `partitions`, the input has
    that many partitions and the worker owns them all), asking the broker and the worker."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while ((partitions is not None and (len(end_offsets(bootstrap, names.topic("new"))) < partitions
                                        or metric_value(worker.get("/metrics"),
                                                        "stream_filter_assigned_partitions") < partitions))
           or committed_lag(bootstrap, names.app_id, names.topic("new")) > 0):
        assert worker.alive(), worker.log()[-2000:]
        assert time.monotonic() < deadline, (f"not caught up: lag "
                                             f"{committed_lag(bootstrap, names.app_id, names.topic('new'))}")
        time.sleep(0.5)



async def grow_input(bootstrap: str, topic: str, partitions: int) -> None:
    """Give a topic more partitions, as `kafka-topics --alter --partitions` does."""
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_partitions({topic: NewPartitions(partitions)})
    finally:
        await admin.close()


def publish_and_wait_for_pass(worker: WorkerProcess, policy: Path, timeout_s: float = 90.0) -> None:
    """Publish a policy version as users do (`stream-filter policy publish`) and wait until the worker
    completed the re-evaluation pass it starts."""
    passes = metric_value(worker.get("/metrics"), "stream_filter_reevaluation_passes_total")
    subprocess.run([sys.executable, "-m", "stream_filter", "policy", "publish", str(policy)], env=worker.env,
                   check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + timeout_s
    while metric_value(worker.get("/metrics"), "stream_filter_reevaluation_passes_total") < passes + 1:
        assert time.monotonic() < deadline, "no re-evaluation pass completed"
        time.sleep(0.5)
