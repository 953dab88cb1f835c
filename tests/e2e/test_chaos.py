"""Crash and restart: nothing lost, and the catalogue consumers build stays right, while the worker is
SIGKILLed 5 times, a second worker joins and leaves, and the broker restarts once.

N keyed listings (20,000 in `make test`; `make chaos` sets STREAM_FILTER_CHAOS_N=100000), about five
events each whose outcomes alternate (each event draws its seller's origin anew), some deleted, 1%
poison. The oracle is the consumer model (`core/catalogue.py`) applied to the output topics, removal
records included, against the offline decisions of the same events. Bounded: loopback only, every
wait has a deadline. A failure names what went wrong: lost events with their input partition and
offset, listings whose catalogue differs, or a timeout with the lag per partition it saw.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson

from stream_filter.core.catalogue import expected_topics
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import route
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from tests.support import (
    Names,
    WorkerProcess,
    catalogue_of,
    committed_lag,
    drain,
    end_offsets,
    event_identity,
    lag_by_partition,
    listing_events,
    metric_value,
)

N = int(os.environ.get("STREAM_FILTER_CHAOS_N", "20000"))
KEYS = max(1, N // 5)  # five events per listing on average
KILLS = 5
POISON_EVERY = 100
DELETE_EVERY = 53  # a deletion of the event's listing (later events of it create it again)
DEADLINE_S = 240 + N / 200  # processing at >= 200 ev/s worst case, plus restarts and rebalances
SIGTERM_EXIT_S = 10.0


def _events(prefix: str) -> tuple[list[tuple[bytes, bytes]], dict[str, str], set[str]]:
    """Records to publish; per event id, the output topic kind the offline core decides; deletions."""
    book = PolicyBook.load("default")
    records, deletions = listing_events(prefix, N, KEYS, DELETE_EVERY, POISON_EVERY)
    expected = {}
    for i, (key, value) in enumerate(records):
        event_id = f"poison-{i}" if i % POISON_EVERY == POISON_EVERY - 1 else orjson.loads(value)["event_id"]
        expected[event_id] = route(key, value, book).output.value
    return records, expected, deletions


def _outputs_count(bootstrap: str, names: Names) -> int:
    return sum(sum(end_offsets(bootstrap, t).values()) for t in names.outputs().values())


def _positions(bootstrap: str, names: Names, event_ids: set[str]) -> list[str]:
    """Where lost events sit on the input topic, for the failure message."""
    found = drain(bootstrap, [names.topic("new")], N, timeout_s=60)
    return [f"{r.partition}@{r.offset}" for r in found if _event_id(r.value) in event_ids][:10]


def _event_id(value: bytes | None) -> str | None:
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return body.get("event_id") if isinstance(body, dict) else None


def test_no_loss_and_a_right_catalogue_under_kills_a_second_worker_and_a_broker_restart(
        kafka_bootstrap: str, restart_broker: Callable[[], None] | None, tmp_path: Path) -> None:
    started = time.monotonic()
    names = Names()
    env = names.env(kafka_bootstrap, STREAM_FILTER_TOPIC_PARTITIONS="4")
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"), topic_partitions=4,
                        **{f"topic_{k}": v for k, v in names.outputs().items()})
    asyncio.run(ensure_topics(settings))
    records, expected, deletions = _events(names.suffix)
    asyncio.run(publish(settings, records))
    rng = random.Random(7)
    marks = sorted(rng.uniform(0.08, 0.85) * N for _ in range(KILLS))
    broker_mark = rng.uniform(0.3, 0.6) * N
    join_mark, leave_mark = 0.2 * N, 0.45 * N
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    second: WorkerProcess | None = None
    kills = restarts_of_broker = joins = 0
    deadline = time.monotonic() + DEADLINE_S
    finished = False
    try:
        while time.monotonic() < deadline:
            done = _outputs_count(kafka_bootstrap, names)
            if kills < KILLS and done >= marks[kills]:
                worker.stop(signal.SIGKILL)
                kills += 1
                worker = WorkerProcess(env, tmp_path / "worker.log").start()
            elif joins == 0 and done >= join_mark:
                second = WorkerProcess(env, tmp_path / "second.log").start()
                joins = 1
            elif second is not None and second.alive() and done >= leave_mark:
                second.stop(signal.SIGTERM, SIGTERM_EXIT_S)
            elif restarts_of_broker == 0 and restart_broker is not None and done >= broker_mark:
                restart_broker()
                restarts_of_broker = 1
            elif done >= N and kills == KILLS and committed_lag(kafka_bootstrap, names.app_id,
                                                                 names.topic("new")) == 0:
                finished = True
                break
            if not worker.alive():  # a worker that lost the broker for too long exits: restart it, as ops would
                worker = WorkerProcess(env, tmp_path / "worker.log").start()
            time.sleep(0.5)
        if not finished:
            lag = lag_by_partition(kafka_bootstrap, names.app_id, names.topic("new"))
            raise AssertionError(f"timeout after {DEADLINE_S:.0f}s (not a loss by itself): lag per input partition "
                                 f"{lag}, output records {_outputs_count(kafka_bootstrap, names)} for {N} events, "
                                 f"kills {kills}/{KILLS}\n{worker.log()[-2000:]}")
        metrics = worker.get("/metrics")
    finally:  # never leave a worker behind, whatever failed above
        exit_code = worker.stop(signal.SIGTERM, SIGTERM_EXIT_S) if worker.alive() else -1
        if second is not None and second.alive():
            second.stop(signal.SIGKILL)
    out = drain(kafka_bootstrap, list(names.outputs().values()), N, timeout_s=120, identity=event_identity)
    catalogue = catalogue_of(kafka_bootstrap, names)
    elapsed = time.monotonic() - started

    kind_of = {v: k for k, v in names.outputs().items()}
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)  # event id -> [(kind, decision id)]
    order: dict[tuple[str, str], list[int]] = defaultdict(list)
    removals = 0
    for r in out:
        kind = kind_of[r.topic]
        if kind == "dead_letter":  # identified by source coordinates: a replay repeats them
            source = f"dl@{r.headers['source-partition'].decode()}/{r.headers['source-offset'].decode()}"
            seen[source].append((kind, r.headers["error-code"].decode()))
            continue
        body = orjson.loads(r.value or b"")
        if body["action"] == "remove":  # a withdrawal: the catalogue below checks what it did
            removals += 1
            if body["event_id"] in deletions:
                seen[body["event_id"]].append(("removed", body["decision_id"]))
            continue
        seen[body["event_id"]].append((kind, body["decision_id"]))
        order[(r.topic, body["listing_id"])].append(body["listing"]["seq"])
    decided_ids = {e for e in seen if not e.startswith("dl@")}
    good_expected = {e: k for e, k in expected.items() if not e.startswith("poison-")}
    lost = set(good_expected) - decided_ids
    poison_landed = {e for e in seen if e.startswith("dl@")}
    duplicates = sum(len(v) - 1 for v in seen.values())
    wanted = expected_topics((value for _, value in records), PolicyBook.load("default"))
    differ = catalogue.differences(wanted)
    print(f"\nchaos: N={N} kills={kills} second_worker={joins} broker_restarts={restarts_of_broker} lost={len(lost)} "
          f"duplicates={duplicates} removals={removals} listings={len(wanted)} catalogue_differences={len(differ)} "
          f"catalogue={dict(catalogue.counts())} time={elapsed:.1f}s")

    assert kills == KILLS and joins == 1
    assert restart_broker is None or restarts_of_broker == 1
    assert not lost, f"lost {len(lost)} events, e.g. at partition@offset {_positions(kafka_bootstrap, names, lost)}"
    assert not differ, (f"{len(differ)} listings differ from their latest decision (found, expected): "
                        f"{sorted(differ.items())[:5]}")
    assert removals > 0 and catalogue.counts()["approved"] > 0
    assert len(poison_landed) == N // POISON_EVERY
    for event_id, kind in good_expected.items():
        kinds = {k for k, _ in seen[event_id]}
        ids = {d for _, d in seen[event_id]}
        assert kinds == ({"removed"} if event_id in deletions else {kind}), (event_id, kinds, kind)
        # a deletion replayed after its tombstone finds no state: its removal then goes to the approved
        # topic with the deletion's own id (docs/contracts.md, "Replays"); every other replay repeats the same id
        assert len(ids) <= (2 if event_id in deletions else 1), f"replays of {event_id} carry different decision ids"
    for (topic, listing), seqs in order.items():
        first_seen = list(dict.fromkeys(seqs))  # drop replays, keep first occurrence
        assert first_seen == sorted(first_seen), f"order broken for {listing} on {topic}: {first_seen}"
    assert committed_lag(kafka_bootstrap, names.app_id, names.topic("new")) == 0
    consumed = metric_value(metrics, "stream_filter_records_consumed_total")
    produced = (metric_value(metrics, "stream_filter_records_produced_total")
                - metric_value(metrics, "stream_filter_records_produced_total", output="state"))
    silent = metric_value(metrics, "stream_filter_replayed_events_total", sent="nothing")
    moves = (metric_value(metrics, "stream_filter_listing_withdrawals_total")  # a deletion's withdrawal is its record
             - metric_value(metrics, "stream_filter_listing_withdrawals_total", reason="LISTING_DELETED"))
    assert consumed + moves == produced + silent
    assert exit_code == 0
