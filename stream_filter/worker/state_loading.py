"""Loading listing states for the decision loops and the re-evaluation pass, and sending what loading made.

Why apart from the app: the callers need the same load with different locking (the loops hold the
lock already; the pass and a rebalance load outside it so batches go on), and loading after a
partition change adopts states whose changelog records must reach the broker before any batch
decides those listings. After a rebalance, partitions whose states are not held yet are not
fetched until they are loaded (`hold_unloaded`, `worker/transport.py`): the other partitions'
batches never wait for a load. Should a batch reach an unloaded partition all the same, its loop
loads it first, under the lock (`load`): slower, never wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from faust.types import TP

from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.enforcement import StateSource
from stream_filter.worker.readiness import Readiness

log = logging.getLogger("stream_filter.worker")
STATE_RETRY_S = 2.0  # the state changelog could not be read: the batch waits, nothing is acked


class HoldingConsumer(Protocol):
    """What holding needs of the consumer (`worker/transport.py`)."""

    def assignment(self) -> set[TP]: ...
    def hold(self, tps: Iterable[TP]) -> None: ...
    def release(self, tps: Iterable[TP]) -> None: ...


class StateLoader:
    def __init__(self, states: ListingStates, deliverer: Deliverer, lock: asyncio.Lock, readiness: Readiness) -> None:
        self.states, self.deliverer, self.lock, self.readiness = states, deliverer, lock, readiness
        self.loading: set[asyncio.Task[None]] = set()  # held partitions' loads (a reference keeps each alive)

    def hold_unloaded(self, consumer: HoldingConsumer, topics: set[str]) -> set[TP]:
        """Called before Faust resumes fetching after a rebalance: hold the assigned partitions of
        `topics` whose states are not held, and load them in the background. Returns those held."""
        held = set(self.states.held())
        tps = {tp for tp in consumer.assignment() if tp.topic in topics and tp.partition not in held}
        if tps:
            consumer.hold(tps)
            task = asyncio.ensure_future(self.load_held(consumer, tps))
            self.loading.add(task)
            task.add_done_callback(self.loading.discard)
            log.info("partitions %s not fetched until their listing states are loaded",
                     sorted({tp.partition for tp in tps}))
        return tps

    async def load_held(self, consumer: HoldingConsumer, tps: set[TP]) -> None:
        """Load outside the lock (retried until the changelog can be read), then fetch them again."""
        try:
            await self._until_loaded(lambda: self.prepare({tp.partition for tp in tps}
                                                          & {tp.partition for tp in consumer.assignment()}))
        finally:
            consumer.release(tps)  # revoked ones stay unfetched: they are no longer assigned

    async def deliver_adopted(self) -> None:
        """Under the lock: states adopted after a partition change (loading made them) reach the
        changelog before any batch decides their listings; the states first, then the old copies'
        tombstones. Whoever takes the lock first after a load sends them."""
        adopted = self.states.take_pending()
        if adopted:
            await self.deliverer.deliver_decided([], [(r, StateSource(self.states.topic, r.partition or 0, r.key))
                                                      for r in adopted])
            log.info("%d listing states adopted after a partition change", len(adopted) // 2)

    async def prepare(self, partitions: set[int]) -> None:
        """For the re-evaluation pass: load outside the lock (batches go on meanwhile), then send
        what adopting made under it."""
        await self.states.load(partitions)
        async with self.lock:
            await self.deliver_adopted()

    async def load(self, partitions: set[int]) -> None:
        """For the decision loops, under the lock. Never raises (an exception would end the loop): retries
        until the changelog can be read."""

        async def step() -> None:
            await self.states.load(partitions)
            await self.deliver_adopted()

        await self._until_loaded(step)

    async def _until_loaded(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run a load step until it succeeds; meanwhile readiness says why it failed."""
        while True:
            try:
                await step()
                self.readiness.load_error = None
                return
            except Exception as exc:  # noqa: BLE001 - retried; an exception would end the decision loop
                self.readiness.load_error = type(exc).__name__
                log.warning("listing state not loaded (%s); retrying", type(exc).__name__)
                await asyncio.sleep(STATE_RETRY_S)
