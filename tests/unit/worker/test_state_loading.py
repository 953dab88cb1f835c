"""Partitions whose states are loading are held, loaded outside the lock, and released."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from faust.types import TP

from stream_filter.worker.output_health import OutputHealth
from stream_filter.worker.readiness import Readiness
from stream_filter.worker.state_loading import StateLoader


class FakeConsumer:
    def __init__(self, assigned: set[TP]) -> None:
        self.assigned, self.held, self.released = assigned, set[TP](), set[TP]()

    def assignment(self) -> set[TP]:
        return self.assigned

    def hold(self, tps: Iterable[TP]) -> None:
        self.held |= set(tps)

    def release(self, tps: Iterable[TP]) -> None:
        self.held -= set(tps)
        self.released |= set(tps)


class SlowStates:
    """Partition 0 is held already; loading the others waits for `gate` (and fails `failures` times)."""

    def __init__(self, failures: int = 0) -> None:
        self.loaded, self.gate, self.failures, self.asked = {0}, asyncio.Event(), failures, list[set[int]]()

    def held(self) -> list[int]:
        return sorted(self.loaded)

    async def load(self, partitions: Iterable[int]) -> None:
        self.asked.append(set(partitions))
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("changelog not readable")
        self.loaded |= set(partitions)

    def take_pending(self) -> list[Any]:
        return []


def _loader(states: SlowStates) -> tuple[StateLoader, asyncio.Lock, Readiness]:
    lock, readiness = asyncio.Lock(), Readiness(OutputHealth(), 60.0)
    return StateLoader(states, deliverer=None, lock=lock, readiness=readiness), lock, readiness  # type: ignore[arg-type]


def test_unloaded_partitions_of_both_topics_are_held_and_loaded_outside_the_lock() -> None:
    async def run() -> None:
        states = SlowStates()
        loader, lock, _ = _loader(states)
        assigned = {TP(t, p) for t in ("in", "verdicts", "other") for p in (0, 1, 2)}
        consumer = FakeConsumer(assigned)
        held = loader.hold_unloaded(consumer, {"in", "verdicts"})
        assert held == consumer.held == {TP(t, p) for t in ("in", "verdicts") for p in (1, 2)}
        await asyncio.sleep(0.01)
        assert states.asked == [{1, 2}] and not lock.locked()  # batches of partition 0 go on meanwhile
        async with lock:  # a batch takes the lock while the load waits: nothing blocks it
            pass
        assert consumer.held == held  # still loading: still held
        states.gate.set()
        await asyncio.gather(*loader.loading)
        assert consumer.held == set() and consumer.released == held

    asyncio.run(run())


def test_a_failed_load_is_retried_and_the_partitions_released_once_loaded(monkeypatch: Any) -> None:
    monkeypatch.setattr("stream_filter.worker.state_loading.STATE_RETRY_S", 0.01)

    async def run() -> None:
        states = SlowStates(failures=2)
        loader, _, readiness = _loader(states)
        consumer = FakeConsumer({TP("in", 0), TP("in", 1)})
        loader.hold_unloaded(consumer, {"in"})
        states.gate.set()
        await asyncio.sleep(0.005)
        assert readiness.load_error == "OSError" and consumer.held == {TP("in", 1)}
        await asyncio.gather(*loader.loading)
        assert consumer.held == set() and readiness.load_error is None and len(states.asked) == 3

    asyncio.run(run())


def test_nothing_is_held_when_every_assigned_partition_is_loaded() -> None:
    async def run() -> None:
        loader, _, _ = _loader(SlowStates())
        consumer = FakeConsumer({TP("in", 0)})
        assert loader.hold_unloaded(consumer, {"in"}) == set() and not loader.loading

    asyncio.run(run())
