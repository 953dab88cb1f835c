"""How many listings are in review on the partitions this worker owns, and since when (the review
gauges); and when the verdicts it has seen expire (a pass then decides those listings again).

Why counts, not a set of listings: the gauges need a number and the oldest time, and a set of every
listing in review grows with the catalogue. Each change of a listing's state comes with the state
before it (batches, verdicts and passes read it anyway), so the queue moves counts: out of review
for the state before, into review for the state after. Times are kept per minute, as counts.

A partition newly owned is counted once by the re-evaluation pass that follows every assignment
(its walk reads every state, in key order). Until the walk has passed a key, changes to that
listing are left to the walk, which will read the changed state; changes behind it are counted.
A pass cut short starts the count of its unfinished partitions again.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.listing_state import ListingState

MINUTE = 60


class _Partition:
    def __init__(self) -> None:
        self.waiting = 0
        self.minutes: Counter[int] = Counter()  # minute the listing's review decision was made -> listings
        self.walked: bytes | None = None  # the count's walk has read every key up to this one
        self.counted = False  # the walk finished: every change is counted as it comes

    def move(self, state: ListingState | None, by: int) -> None:
        if state is None or state.outcome is not Outcome.REVIEW:
            return
        self.waiting += by
        if state.decided_at is not None:
            minute = int(state.decided_at.timestamp()) // MINUTE
            self.minutes[minute] += by
            if self.minutes[minute] <= 0:
                del self.minutes[minute]


class ReviewQueue:
    def __init__(self) -> None:
        self._parts: dict[int, _Partition] = {}
        self._expiry: dict[tuple[int, str], datetime] = {}  # (partition, listing id) -> its verdict's expiry
        self._due: list[tuple[datetime, int, str]] = []  # a heap over those; entries no longer in _expiry are stale

    def keep(self, partitions: Iterable[int]) -> None:
        """The new assignment: forget the partitions no longer owned; a new one waits for its count."""
        owned = set(partitions)
        for partition in set(self._parts) - owned:
            del self._parts[partition]
        for partition in owned - set(self._parts):
            self._parts[partition] = _Partition()
        for key in [k for k in self._expiry if k[0] not in owned]:
            del self._expiry[key]

    def count_starts(self) -> None:
        """A pass begins its walk: partitions not yet counted are counted from nothing."""
        for partition, part in self._parts.items():
            if not part.counted:
                self._parts[partition] = _Partition()

    def count_ends(self, partitions: Iterable[int]) -> None:
        """The pass walked every key of these partitions."""
        for partition in partitions:
            if (part := self._parts.get(partition)) is not None:
                part.counted = True

    def walked(self, partition: int, key: bytes, state: ListingState | None) -> None:
        """The pass read this listing's state (None: nothing to count, a stale copy)."""
        part = self._parts.get(partition)
        if part is not None and not part.counted:
            part.walked = key
            part.move(state, +1)
        self._expires(partition, key.decode(), state)

    def changed(self, partition: int, listing_id: str, before: ListingState | None,
                after: ListingState | None) -> None:
        """A listing's state changed (None: none, or deleted)."""
        part = self._parts.get(partition)
        if part is not None and (part.counted or (part.walked is not None and listing_id.encode() <= part.walked)):
            part.move(before, -1)
            part.move(after, +1)
        self._expires(partition, listing_id, after)

    def _expires(self, partition: int, listing_id: str, state: ListingState | None) -> None:
        expires = state.verdict.ref.expires_at if state is not None and state.verdict is not None else None
        key = (partition, listing_id)
        if expires is None:
            self._expiry.pop(key, None)
        elif self._expiry.get(key) != expires:  # each pass reads every state again: one entry per verdict
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

    def count(self) -> int:
        return sum(part.waiting for part in self._parts.values())

    def oldest_age_seconds(self, now: datetime | None = None) -> float:
        """Age of the oldest review decision still waiting, to the minute."""
        oldest = min((min(part.minutes) for part in self._parts.values() if part.minutes), default=None)
        if oldest is None:
            return 0.0
        return max(0.0, (now or datetime.now(UTC)).timestamp() - oldest * MINUTE)
