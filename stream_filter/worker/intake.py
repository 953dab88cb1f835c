"""Input records in batches, straight from Faust's consumer: one hand-off per fetched partition,
not one Message, Event, queue step and ack per record.

Why: Faust hands every record to an agent on its own (faust/transport/consumer.py `getmany` and
`_drain_messages`, faust/transport/conductor.py `on_message`, faust/streams.py `take_events`); a
Faust agent that forwards raw bytes with no logic at all moves about a quarter of what plain
aiokafka moves on this machine (docs/performance.md). The worker's consumer (`transport.py`) puts
each fetched partition's records here instead, and the decision loops take them in batches.

What stays as it was:
- offsets are committed after delivery only: the loop acknowledges a batch's offsets in Faust's own
  bookkeeping (`transport.py`, `acknowledge`) once its outputs are acknowledged, and Faust's
  committer commits the highest contiguous acknowledged offset, as for its own events;
- per-partition order: a partition's records are put and taken in fetch order, one loop per topic;
- rebalances: after every rebalance Faust seeks each partition back to its committed offset
  (faust/tables/recovery.py, `perform_seek`), so records waiting here when partitions are revoked
  are dropped (`drop`) and fetched again by whoever owns them next; a put started before the drop
  is refused (the generation it was fetched under is gone);
- memory: `put` waits while MAX_WAITING records wait, and Faust's consumer fetches nothing meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from time import monotonic

from stream_filter.core.ports import SourceRecord

MAX_WAITING = 4_000  # records fetched and not yet taken, per topic: a few batches


class Intake:
    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self.max_waiting = max_waiting
        self.generation = 0
        self._chunks: deque[Sequence[SourceRecord]] = deque()
        self._waiting = 0
        self._changed = asyncio.Condition()

    @property
    def waiting(self) -> int:
        return self._waiting

    async def put(self, generation: int, records: Sequence[SourceRecord]) -> bool:
        """Add one partition's fetched records, in order; False if they were fetched before a drop."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._waiting < self.max_waiting or generation != self.generation)
            if generation != self.generation:
                return False
            self._chunks.append(records)
            self._waiting += len(records)
            self._changed.notify_all()
            return True

    async def take(self, most: int, within: float) -> list[SourceRecord]:
        """Up to `most` records: as soon as `most` wait, else `within` seconds after the first came."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._waiting > 0)
            deadline = monotonic() + within
            while self._waiting < most and (left := deadline - monotonic()) > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    break
            taken: list[SourceRecord] = []
            while self._chunks and len(taken) < most:
                chunk = self._chunks.popleft()
                room = most - len(taken)
                if len(chunk) > room:
                    self._chunks.appendleft(chunk[room:])
                    chunk = chunk[:room]
                taken += chunk
            self._waiting -= len(taken)
            self._changed.notify_all()
            return taken

    async def drop(self) -> int:
        """Forget every waiting record (partitions were revoked); returns how many. Puts waiting for
        room wake up and are refused."""
        async with self._changed:
            dropped, self._waiting = self._waiting, 0
            self._chunks.clear()
            self.generation += 1
            self._changed.notify_all()
            return dropped
