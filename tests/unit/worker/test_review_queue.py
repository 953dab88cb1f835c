"""The review gauges as counts: moved by each change with the state before it, and counted afresh
by every pass's walk, with changes ahead of the walk left to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from stream_filter.core.contracts.decision import Origin, Outcome, PolicyRef
from stream_filter.core.listing_state import ListingState
from stream_filter.worker.review_queue import ReviewQueue
from tests.factories import MemoryStates, decider, in_review, verdict_msg

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def state(listing_id: str, outcome: Outcome, minutes: int = 0) -> ListingState:
    return ListingState(listing_id=listing_id, partition=0, event_id="e", decision_id="d", outcome=outcome,
                        policy=PolicyRef(id="p", version="1"), origin=Origin(origin_class="domestic", confidence=1.0),
                        clusters=[], listing={}, decided_at=T0 + timedelta(minutes=minutes))


REVIEW, APPROVED = Outcome.REVIEW, Outcome.APPROVED


def counted(queue: ReviewQueue, partitions: set[int], held: dict[str, ListingState]) -> None:
    """A whole pass: `held` on partition 0 (in key order), the other partitions empty."""
    queue.walk_starts(partitions)
    for partition in sorted(partitions):
        for listing_id in sorted(held) if partition == 0 else []:
            queue.walked(0, listing_id.encode(), held[listing_id])
        queue.walk_ends(partition)


def test_changes_move_the_count_and_the_oldest_minute() -> None:
    queue = ReviewQueue()
    queue.keep({0})
    counted(queue, {0}, {})
    queue.changed(0, "a", None, state("a", REVIEW, 0))
    queue.changed(0, "b", None, state("b", REVIEW, 5))
    queue.changed(0, "c", None, state("c", APPROVED, 1))
    assert queue.count() == 2
    assert queue.oldest_age_seconds(T0 + timedelta(minutes=10)) == 600
    queue.changed(0, "a", state("a", REVIEW, 0), state("a", APPROVED, 7))  # a verdict or an update
    assert queue.count() == 1 and queue.oldest_age_seconds(T0 + timedelta(minutes=10)) == 300
    queue.changed(0, "b", state("b", REVIEW, 5), state("b", REVIEW, 8))  # decided for review again
    assert queue.count() == 1 and queue.oldest_age_seconds(T0 + timedelta(minutes=10)) == 120
    queue.changed(0, "b", state("b", REVIEW, 8), None)  # deleted
    assert queue.count() == 0 and queue.oldest_age_seconds(T0) == 0.0


def test_a_new_partition_is_counted_by_the_walk_and_changes_ahead_of_it_are_left_to_it() -> None:
    held = {f"l{i}": state(f"l{i}", REVIEW if i % 2 else APPROVED, i) for i in range(6)}  # l1, l3, l5 in review
    queue = ReviewQueue()
    queue.keep({0})
    queue.walk_starts({0})
    queue.changed(0, "l3", held["l3"], state("l3", APPROVED))  # before the walk reached it: the walk reads it
    held["l3"] = state("l3", APPROVED)
    for listing_id in ["l0", "l1", "l2"]:
        queue.walked(0, listing_id.encode(), held[listing_id])
    assert queue.count() == 0  # not counted until its walk ends
    queue.changed(0, "l1", held["l1"], state("l1", APPROVED))  # behind the walk: counted now
    queue.changed(0, "l4", held["l4"], state("l4", REVIEW))  # ahead of it
    held["l1"], held["l4"] = state("l1", APPROVED), state("l4", REVIEW)
    for listing_id in ["l3", "l4", "l5"]:
        queue.walked(0, listing_id.encode(), held[listing_id])
    queue.walk_ends(0)
    assert queue.count() == sum(s.outcome is REVIEW for s in held.values()) == 2
    queue.changed(0, "l9", None, state("l9", REVIEW))  # after the walk, past its last key: counted
    queue.changed(0, "l4", held["l4"], state("l4", APPROVED))
    assert queue.count() == 2


def test_an_empty_partition_counts_every_change_once_its_walk_ends() -> None:
    queue = ReviewQueue()
    queue.keep({0, 1})
    queue.walk_starts({0, 1})
    queue.walk_ends(0)  # nothing held
    queue.changed(0, "a", None, state("a", REVIEW))
    queue.changed(1, "b", None, state("b", REVIEW))  # partition 1 not walked yet: left to its walk
    assert queue.count() == 1
    queue.walked(1, b"b", state("b", REVIEW))
    queue.walk_ends(1)
    assert queue.count() == 2


def test_every_pass_counts_again_and_puts_a_wrong_count_right() -> None:
    held = {f"l{i}": state(f"l{i}", REVIEW) for i in range(4)}
    queue = ReviewQueue()
    queue.keep({0, 1})
    counted(queue, {0, 1}, held)
    assert queue.count() == 4
    queue.changed(0, "l0", None, held["l0"])  # a change seen twice (a stale copy, a bug): the count is off
    assert queue.count() == 5
    queue.walk_starts({0, 1})
    queue.walked(0, b"l0", held["l0"])
    queue.walk_lost(0)  # the walk could not read the rest: its count is not used
    assert queue.count() == 5
    counted(queue, {0, 1}, held)  # the next pass
    assert queue.count() == 4
    queue.keep({1})  # revoked
    assert queue.count() == 0
    queue.keep({0, 1})  # back again: counted by the next pass
    assert queue.count() == 0
    counted(queue, {0, 1}, held)
    assert queue.count() == 4


def test_the_count_of_decided_listings_and_their_wait() -> None:
    memory = MemoryStates({0: {}})
    reviewed, _ = in_review(memory)
    queue = ReviewQueue()
    queue.keep([0, 1])
    counted(queue, {0, 1}, {})
    queue.changed(0, "L-1", None, reviewed)
    queue.changed(1, "L-2", None, reviewed)
    assert queue.count() == 2 and queue.oldest_age_seconds() > 0
    queue.keep([0])
    assert queue.count() == 1
    queue.changed(0, "L-1", reviewed, None)
    assert queue.count() == 0 and queue.oldest_age_seconds() == 0.0


def _expiring_verdict() -> tuple[ListingState | None, datetime]:
    """L-1 approved by a reviewer until an hour from now: its state, and the expiry."""
    memory = MemoryStates({0: {}})
    reviewed, _ = in_review(memory)
    expiry = datetime.now(UTC) + timedelta(hours=1)
    decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0, expires_at=expiry.isoformat())],
                              memory.view)
    return memory.get("L-1", 0), expiry


def test_the_queue_names_once_the_listing_whose_verdict_expired() -> None:
    state, expiry = _expiring_verdict()
    queue = ReviewQueue()
    queue.changed(0, "L-1", None, state)
    assert queue.expired(expiry - timedelta(minutes=1)) == []
    assert queue.expired(expiry + timedelta(seconds=1)) == [(0, "L-1")]
    assert queue.expired(expiry + timedelta(seconds=2)) == []  # once: the enforcer decides it again


def test_passes_reading_the_same_verdict_again_keep_one_expiry_for_it() -> None:
    state, expiry = _expiring_verdict()
    queue = ReviewQueue()
    for _ in range(1000):  # a thousand passes walk the same state
        queue.walked(0, b"L-1", state)
    assert len(queue._due) == 1
    queue.keep([1])  # revoked: its expiry is not ours to act on
    assert queue.expired(expiry + timedelta(seconds=1)) == []


def test_a_batch_gives_each_listing_its_state_before_the_batch() -> None:
    """Two events of one listing in a batch move the count once, from the state before the batch."""
    from tests.factories import UNCERTAIN, listing_msg

    memory = MemoryStates({0: {}})
    queue = ReviewQueue()
    queue.keep([0])
    counted(queue, {0}, {})
    for offsets in ((0, 1), (2, 3)):  # each batch: the listing to review, then an update that keeps it there
        events = [listing_msg("L-1", 0, o, **UNCERTAIN, price={"amount": str(10 + o), "currency": "USD"})
                  for o in offsets]
        batch = decider().decide(events, memory.view)
        for (partition, listing_id), after in batch.states.items():
            queue.changed(partition, listing_id, batch.before[(partition, listing_id)], after)
        assert queue.count() == 1
    assert batch.before[(0, "L-1")] is not None and batch.before[(0, "L-1")].offset == 1


def test_the_queue_does_not_grow_with_the_listings_in_review() -> None:
    """The promise of docs/contracts.md (memory flat in the listings held): 20,000 listings entering review take
    the memory of counts, not of a map by listing (one holding only references to the ids and
    times already in memory takes ~400 KB here)."""
    import tracemalloc

    queue = ReviewQueue()
    queue.keep({0})
    counted(queue, {0}, {})
    reviewed = [state(f"listing-{i:06d}", REVIEW, i % 5) for i in range(20_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for s in reviewed:
        queue.changed(0, s.listing_id, None, s)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert queue.count() == 20_000
    assert grown < 100_000, grown


def test_the_expiry_heap_stays_bounded_across_rebalances() -> None:
    """Each rebalance forgets the expiries of partitions given away and the next walk reads them again:
    the heap must not keep every old entry (a thousand verdicts, fifty rebalances)."""
    state, expiry = _expiring_verdict()
    assert state is not None
    queue = ReviewQueue()
    for _ in range(50):
        queue.keep([])  # revoked
        queue.keep([0])  # and back
        for i in range(1000):
            queue.walked(0, f"L-{i}".encode(), replace(state, listing_id=f"L-{i}"))
    assert len(queue._due) <= 2 * 1000 + 64
    assert len(queue.expired(expiry + timedelta(seconds=1))) == 1000  # each listing named once
