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
        self._expiry: dict[tuple[int, str], datetime] = {}  # (partition, listing id) -> its verdict's expiry
        self._due: list[tuple[datetime, int, str]] = []  # a heap over those; entries no longer in _expiry are stale

    def note(self, partition: int, listing_id: str, state: ListingState | None) -> None:
        """A listing's state now (None: deleted). A listing decided for review again keeps its first time."""
        waiting = self._since.setdefault(partition, {})
        if state is not None and state.outcome is Outcome.REVIEW:
            waiting.setdefault(listing_id, state.decided_at or datetime.now(UTC))
        else:
            waiting.pop(listing_id, None)
        expires = state.verdict.ref.expires_at if state is not None and state.verdict is not None else None
        key = (partition, listing_id)
        if expires is None:
            self._expiry.pop(key, None)
        elif self._expiry.get(key) != expires:  # each pass notes every state again: one entry per verdict
            self._expiry[key] = expires
            heapq.heappush(self._due, (expires, partition, listing_id))

    def expired(self, now: datetime | None = None) -> bool:
        """Whether a verdict seen has expired since last asked (a pass decides such listings again)."""
        now, passed = now or datetime.now(UTC), False
        while self._due and self._due[0][0] <= now:
            expires, partition, listing_id = heapq.heappop(self._due)
            if self._expiry.get((partition, listing_id)) == expires:
                del self._expiry[(partition, listing_id)]
                passed = True
        return passed

    def keep(self, partitions: Iterable[int]) -> None:
        """The new assignment: forget the partitions no longer owned."""
        owned = set(partitions)
        for partition in set(self._since) - owned:
            del self._since[partition]
        for key in [k for k in self._expiry if k[0] not in owned]:
            del self._expiry[key]

    def count(self) -> int:
        return sum(len(waiting) for waiting in self._since.values())

    def oldest_age_seconds(self, now: datetime | None = None) -> float:
        oldest = min((min(w.values()) for w in self._since.values() if w), default=None)
        return max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds()) if oldest else 0.0
