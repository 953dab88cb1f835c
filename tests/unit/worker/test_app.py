"""The Faust wiring's own promises, without a broker: the loop it runs on, and that a batch cut off
in the middle is never left for Faust to acknowledge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stream_filter.core.policy.book import PolicyBook
from stream_filter.settings import Settings
from stream_filter.worker import app as app_module
from stream_filter.worker.app import Worker
from stream_filter.worker.faust_options import event_loop
from stream_filter.worker.shutdown import EXIT_BATCH_ABANDONED
from tests.factories import Msg, listing_msg


@pytest.mark.parametrize(("protocol", "wanted", "runs"), [
    ("PLAINTEXT", "uvloop", "uvloop"), ("SASL_PLAINTEXT", "uvloop", "uvloop"), ("PLAINTEXT", "asyncio", "asyncio"),
    ("SSL", "uvloop", "asyncio"), ("SASL_SSL", "uvloop", "asyncio"),
])
def test_tls_to_the_broker_never_runs_on_uvloop(protocol: str, wanted: str, runs: str) -> None:
    assert event_loop(Settings(security_protocol=protocol, event_loop=wanted)) == runs  # type: ignore[arg-type]


@dataclass
class Event:
    message: Msg


class Stream:
    """Faust's stream as the agent uses it: one batch of events, then the end."""

    def __init__(self, messages: list[Msg]) -> None:
        self.messages = messages

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[Event]]:
        yield [Event(m) for m in self.messages]


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
        agent = asyncio.create_task(worker.decide_listings(Stream([listing_msg("L-1", 0, 0)])))
        await inside.wait()
        agent.cancel()  # what Faust does to its agents when it stops
        await asyncio.gather(agent, return_exceptions=True)

    asyncio.run(run())
    assert exits == [EXIT_BATCH_ABANDONED]


def test_a_delivered_batch_ends_without_an_exit(tmp_path: Path, monkeypatch: Any) -> None:
    worker, exits = _worker(tmp_path, monkeypatch)
    delivered: list[object] = []

    async def deliver(outputs: object, changelog: object) -> None:
        delivered.append(outputs)

    async def load(partitions: set[int]) -> None:
        for partition in partitions:
            worker.states.open(partition)

    monkeypatch.setattr(worker.loader, "load", load)
    monkeypatch.setattr(worker.deliverer, "deliver_decided", deliver)
    asyncio.run(worker.decide_listings(Stream([listing_msg("L-1", 0, 0)])))
    assert len(delivered) == 1 and exits == []


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
