"""The Faust wiring's own promises, without a broker: the loop it runs on, that a batch cut off in
the middle is never acknowledged, that a delivered one is, and that a revocation drops what waits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stream_filter.core.policy.book import PolicyBook
from stream_filter.settings import Settings
from stream_filter.worker import app as app_module
from stream_filter.worker.app import Worker
from stream_filter.worker.faust_options import event_loop
from stream_filter.worker.shutdown import EXIT_BATCH_ABANDONED
from tests.factories import listing_msg


@pytest.mark.parametrize(("protocol", "wanted", "runs"), [
    ("PLAINTEXT", "uvloop", "uvloop"), ("SASL_PLAINTEXT", "uvloop", "uvloop"), ("PLAINTEXT", "asyncio", "asyncio"),
    ("SSL", "uvloop", "asyncio"), ("SASL_SSL", "uvloop", "asyncio"),
])
def test_tls_to_the_broker_never_runs_on_uvloop(protocol: str, wanted: str, runs: str) -> None:
    assert event_loop(Settings(security_protocol=protocol, event_loop=wanted)) == runs  # type: ignore[arg-type]


def _worker(tmp_path: Path, monkeypatch: Any) -> tuple[Worker, list[int]]:
    worker = Worker(Settings(data_dir=str(tmp_path), state_store="memory"), PolicyBook.load("default"))
    exits: list[int] = []
    monkeypatch.setattr(app_module, "hard_exit", lambda code, message: exits.append(code))
    worker.policy_ready.set()
    return worker, exits


def test_an_agent_cancelled_in_the_middle_of_a_batch_exits_before_faust_acks_it(tmp_path: Path,
                                                                                 monkeypatch: Any) -> None:
    worker, exits = _worker(tmp_path, monkeypatch)
    inside = asyncio.Event()

    async def delivery_never_ends(outputs: object, changelog: object) -> None:
        inside.set()
        await asyncio.Event().wait()

    async def load(partitions: set[int]) -> None:
        for partition in partitions:
            worker.states.open(partition)

    monkeypatch.setattr(worker.loader, "load", load)
    monkeypatch.setattr(worker.deliverer, "deliver_decided", delivery_never_ends)

    async def run() -> None:
        assert await worker.listings.put(worker.listings.generation, [listing_msg("L-1", 0, 0)])
        loop = asyncio.create_task(worker.decide_listings())
        await inside.wait()
        loop.cancel()  # what Faust does to its tasks when it stops
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(run())
    assert exits == [EXIT_BATCH_ABANDONED]
    assert acknowledged(worker) == {}


def test_a_delivered_batch_ends_without_an_exit(tmp_path: Path, monkeypatch: Any) -> None:
    worker, exits = _worker(tmp_path, monkeypatch)
    delivered: list[object] = []
    done = asyncio.Event()

    async def deliver(outputs: object, changelog: object) -> None:
        delivered.append(outputs)
        done.set()

    async def load(partitions: set[int]) -> None:
        for partition in partitions:
            worker.states.open(partition)

    monkeypatch.setattr(worker.loader, "load", load)
    monkeypatch.setattr(worker.deliverer, "deliver_decided", deliver)

    async def run() -> None:
        batch = [listing_msg("L-1", 0, 0), listing_msg("L-2", 0, 1), listing_msg("L-3", 1, 5)]
        assert await worker.listings.put(worker.listings.generation, batch)
        loop = asyncio.create_task(worker.decide_listings())
        await done.wait()
        await asyncio.sleep(0.05)
        loop.cancel()  # while it waits for the next batch: not in the middle of one
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(run())
    assert len(delivered) == 1 and exits == []
    assert acknowledged(worker) == {("listings.new", 0): [0, 1], ("listings.new", 1): [5]}


def test_records_waiting_when_partitions_are_revoked_are_dropped_not_decided(tmp_path: Path,
                                                                            monkeypatch: Any) -> None:
    worker, exits = _worker(tmp_path, monkeypatch)
    decided: list[object] = []
    monkeypatch.setattr(worker.decider, "decide", lambda records, view: decided.append(records))
    commits: list[object] = []

    async def force_commit(*args: object, **kwargs: object) -> bool:
        commits.append(args)
        return True

    monkeypatch.setattr(worker.app.consumer, "force_commit", force_commit)

    async def run() -> None:
        fetched_in = worker.listings.generation
        assert await worker.listings.put(fetched_in, [listing_msg("L-1", 0, 0)])
        await worker.on_partitions_revoked(None, signal=None)
        assert worker.listings.waiting == 0
        assert not await worker.listings.put(fetched_in, [listing_msg("L-2", 0, 1)])  # fetched before
        loop = asyncio.create_task(worker.decide_listings())
        await asyncio.sleep(0.05)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    asyncio.run(run())
    assert decided == [] and exits == [] and acknowledged(worker) == {}
    assert len(commits) == 1  # what was acknowledged before the revocation is committed at it


def acknowledged(worker: Worker) -> dict[tuple[str, int], list[int]]:
    """The offsets the worker acknowledged to Faust's committer, by topic and partition."""
    consumer: Any = worker.app.consumer
    return {(tp.topic, tp.partition): sorted(offsets) for tp, offsets in consumer._acked.items() if offsets}


def test_the_worker_paces_long_jobs_only_while_batches_are_delivered(tmp_path: Path, monkeypatch: Any) -> None:
    worker, _ = _worker(tmp_path, monkeypatch)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("stream_filter.worker.app.asyncio.sleep", sleep)
    worker.readiness.last_batch = None  # no batch yet: a job runs at full speed
    asyncio.run(worker.pace(0.2))
    worker.readiness.progressed()  # batches flowing: the job pauses as long as its step took
    asyncio.run(worker.pace(0.2))
    assert pauses == [0, 0.2]


def test_no_batch_is_decided_after_the_states_are_sealed_at_shutdown(tmp_path: Path, monkeypatch: Any) -> None:
    worker, exits = _worker(tmp_path, monkeypatch)
    decided: list[object] = []
    monkeypatch.setattr(worker.decider, "decide", lambda records, view: decided.append(records))

    async def ends(settings: object, topic: str, partitions: object) -> dict[int, int]:
        return {}

    monkeypatch.setattr(app_module, "end_offsets", ends)

    async def run() -> bool:
        assert await worker.listings.put(worker.listings.generation, [listing_msg("L-1", 0, 0)])
        await worker.on_before_shutdown(None, signal=None)
        assert worker.listings.waiting == 0  # dropped: read again at the next start
        assert await worker.listings.put(worker.listings.generation, [listing_msg("L-2", 0, 1)])  # a late fetch
        loop = asyncio.create_task(worker.decide_listings())
        await asyncio.wait_for(loop, 1.0)  # it ends by itself
        return loop.done()

    assert asyncio.run(run())
    assert decided == [] and exits == [] and acknowledged(worker) == {}
