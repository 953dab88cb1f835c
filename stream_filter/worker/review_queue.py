"""The listings in review on the partitions this worker owns, and since when (the review gauges);
and when the verdicts it has seen expire (a pass then decides those listings again).

Why in memory, fed by what the worker already reads: counting from the states on disk would parse
every state each time. Batches and verdicts say which listings they changed; a re-evaluation pass
(one runs after every assignment) walks every owned state, so the queue is complete once it has.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import UTC, datetime

from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.listing_state import ListingState


class ReviewQueue:
    def __init__(self) -> None:
        self._since: dict[int, dict[str, datetime]] = {}
        self._expiries: list[datetime] = []  # a heap: verdict expiries not yet passed

    def note(self, partition: int, listing_id: str, state: ListingState | None) -> None:
        """A listing's state now (None: deleted). A listing decided for review again keeps its first time."""
        waiting = self._since.setdefault(partition, {})
        if state is not None and state.outcome is Outcome.REVIEW:
            waiting.setdefault(listing_id, state.decided_at or datetime.now(UTC))
        else:
            waiting.pop(listing_id, None)
        if state is not None and state.verdict is not None and state.verdict.ref.expires_at is not None:
            heapq.heappush(self._expiries, state.verdict.ref.expires_at)

    def expired(self, now: datetime | None = None) -> bool:
        """Whether a verdict seen has expired since last asked (a pass decides such listings again)."""
        now, passed = now or datetime.now(UTC), False
        while self._expiries and self._expiries[0] <= now:
            heapq.heappop(self._expiries)
            passed = True
        return passed

    def keep(self, partitions: Iterable[int]) -> None:
        """The new assignment: forget the partitions no longer owned."""
        owned = set(partitions)
        for partition in set(self._since) - owned:
            del self._since[partition]

    def count(self) -> int:
        return sum(len(waiting) for waiting in self._since.values())

    def oldest_age_seconds(self, now: datetime | None = None) -> float:
        oldest = min((min(w.values()) for w in self._since.values() if w), default=None)
        return max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds()) if oldest else 0.0
