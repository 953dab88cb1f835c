"""How many listings are in review on the partitions this worker owns, and since when (the review
gauges); and when the verdicts it has seen expire (the enforcer then decides those listings again).

Why counts, not a set of listings: the gauges need a number and the oldest time, and a set of every
listing in review grows with the catalogue. Each change of a listing's state comes with the state
before it (batches, verdicts and passes read it anyway), so the queue moves counts: out of review
for the state before, into review for the state after. Times are kept per minute, as counts.

Every re-evaluation pass (one follows each assignment) counts its partitions afresh as it walks
them, in key order, while the counts in use keep serving the gauges; when a partition's walk ends,
its fresh count replaces the one in use. Until the walk has passed a key, changes to that listing
are left to the walk, which reads the changed state; changes behind it move the fresh count too.
So a partition newly owned is counted by the first pass over it, and a count that went wrong (a
stale copy left by a partition-count change, a change lost to an error) is put right by the next.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.listing_state import ListingState

MINUTE = 60


class _Tally:
    def __init__(self) -> None:
        self.waiting = 0
        self.minutes: Counter[int] = Counter()  # minute the listing's review decision was made -> listings

    def move(self, state: ListingState | None, by: int) -> None:
        if state is None or state.outcome is not Outcome.REVIEW:
            return
        self.waiting += by
        if state.decided_at is not None:
            minute = int(state.decided_at.timestamp()) // MINUTE
            self.minutes[minute] += by
            if self.minutes[minute] == 0:
                del self.minutes[minute]


class _Partition:
    def __init__(self) -> None:
        self.counted: _Tally | None = None  # None until a walk of the partition has ended
        self.fresh: _Tally | None = None  # the count of a walk in progress
        self.walked: bytes | None = None  # that walk has read every key up to this one


class ReviewQueue:
    def __init__(self) -> None:
        self._parts: dict[int, _Partition] = {}
        self._expiry: dict[tuple[int, str], datetime] = {}  # (partition, listing id) -> its verdict's expiry
        self._due: list[tuple[datetime, int, str]] = []  # a heap over those; entries no longer in _expiry are stale

    def keep(self, partitions: Iterable[int]) -> None:
        """The new assignment: forget the partitions no longer owned; a new one waits for a walk."""
        owned = set(partitions)
        for partition in set(self._parts) - owned:
            del self._parts[partition]
        for partition in owned - set(self._parts):
            self._parts[partition] = _Partition()
        for key in [k for k in self._expiry if k[0] not in owned]:
            del self._expiry[key]

    def walk_starts(self, partitions: Iterable[int]) -> None:
        """A pass is about to walk these partitions: each is counted again from nothing."""
        for partition in partitions:
            if (part := self._parts.get(partition)) is not None:
                part.fresh, part.walked = _Tally(), None

    def walked(self, partition: int, key: bytes, state: ListingState | None) -> None:
        """The pass read this listing's state (None: nothing to count, a stale copy)."""
        part = self._parts.get(partition)
        if part is not None and part.fresh is not None:
            part.walked = key
            part.fresh.move(state, +1)
        self._expires(partition, key.decode(), state)

    def walk_ends(self, partition: int) -> None:
        """The walk read every key of the partition: its fresh count is the count."""
        part = self._parts.get(partition)
        if part is not None and part.fresh is not None:
            part.counted, part.fresh, part.walked = part.fresh, None, None

    def walk_lost(self, partition: int) -> None:
        """The walk could not read some of the partition's states: its fresh count is incomplete."""
        if (part := self._parts.get(partition)) is not None:
            part.fresh, part.walked = None, None

    def changed(self, partition: int, listing_id: str, before: ListingState | None,
                after: ListingState | None) -> None:
        """A listing's state changed (None: none, or deleted)."""
        part = self._parts.get(partition)
        if part is not None:
            tallies = [part.counted]
            if part.walked is not None and listing_id.encode() <= part.walked:
                tallies.append(part.fresh)
            for tally in tallies:
                if tally is not None:
                    tally.move(before, -1)
                    tally.move(after, +1)
        self._expires(partition, listing_id, after)

    def _expires(self, partition: int, listing_id: str, state: ListingState | None) -> None:
        expires = state.verdict.ref.expires_at if state is not None and state.verdict is not None else None
        key = (partition, listing_id)
        if expires is None:
            self._expiry.pop(key, None)
        elif self._expiry.get(key) != expires:  # each pass reads every state again: one entry per verdict
            self._expiry[key] = expires
            heapq.heappush(self._due, (expires, partition, listing_id))
            if len(self._due) > 2 * len(self._expiry) + 64:  # stale entries (revoked, changed): rebuilt, bounded
                self._due = [(at, p, lid) for (p, lid), at in self._expiry.items()]
                heapq.heapify(self._due)

    def expired(self, now: datetime | None = None) -> list[tuple[int, str]]:
        """The listings whose verdict has expired since last asked, as (partition, listing id): the
        enforcer decides just those again (`Enforcer.expire`)."""
        now, due = now or datetime.now(UTC), []
        while self._due and self._due[0][0] <= now:
            expires, partition, listing_id = heapq.heappop(self._due)
            if self._expiry.get((partition, listing_id)) == expires:
                del self._expiry[(partition, listing_id)]
                due.append((partition, listing_id))
        return due

    def _counts(self) -> list[_Tally]:
        return [part.counted for part in self._parts.values() if part.counted is not None]

    def count(self) -> int:
        return sum(tally.waiting for tally in self._counts())

    def oldest_age_seconds(self, now: datetime | None = None) -> float:
        """Age of the oldest review decision still waiting, to the minute."""
        oldest = min((min(m for m, n in tally.minutes.items() if n > 0) for tally in self._counts()
                      if any(n > 0 for n in tally.minutes.values())), default=None)
        if oldest is None:
            return 0.0
        return max(0.0, (now or datetime.now(UTC)).timestamp() - oldest * MINUTE)
