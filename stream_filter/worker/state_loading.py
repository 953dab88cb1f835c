"""Loading listing states for the agents and the re-evaluation pass, and sending what loading made.

Why apart from the app: the two callers need the same load with different locking (the agents
hold the lock already; the pass loads outside it so batches go on), and loading after a partition
change adopts states whose changelog records must reach the broker before any batch decides those
listings.
"""

from __future__ import annotations

import asyncio
import logging

from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.enforcement import StateSource
from stream_filter.worker.readiness import Readiness

log = logging.getLogger("stream_filter.worker")
STATE_RETRY_S = 2.0  # the state changelog could not be read: the batch waits, nothing is acked


class StateLoader:
    def __init__(self, states: ListingStates, deliverer: Deliverer, lock: asyncio.Lock, readiness: Readiness) -> None:
        self.states, self.deliverer, self.lock, self.readiness = states, deliverer, lock, readiness

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
        """For the agents, under the lock. Never raises (an exception would ack the batch): retries
        until the changelog can be read."""
        while True:
            try:
                await self.states.load(partitions)
                await self.deliver_adopted()
                self.readiness.load_error = None
                return
            except Exception as exc:  # noqa: BLE001 - see docstring
                self.readiness.load_error = type(exc).__name__
                log.warning("listing state not loaded (%s); retrying", type(exc).__name__)
                await asyncio.sleep(STATE_RETRY_S)
