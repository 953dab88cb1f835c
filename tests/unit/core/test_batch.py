"""The batch decider without a broker: state read once per batch, failures kept to their partition."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from stream_filter.core.batch import BatchDecider
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.route import Output
from stream_filter.worker.delivery import withdraws
from stream_filter.worker.metrics import Metrics
from tests.factories import MemoryStates, MemoryView, listing_msg


def _decider() -> BatchDecider:
    return BatchDecider(PolicyHolder(PolicyBook.load("default")), max_value_bytes=1_048_576, clock="event",
                        max_age=None, dedupe_window=100_000)


def test_a_listing_twice_in_one_batch_sees_its_own_earlier_state() -> None:
    """Created then deleted in the same batch: the deletion withdraws the decision made just before."""
    states = MemoryStates({0: {}})
    decided = _decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-1", 0, 1, event_type="listing.deleted")],
                                states.view)
    created, withdrawn = (routed for routed, _ in decided.outputs)
    assert created.decision is not None and created.decision.action == "upsert"
    assert withdrawn.decision is not None and withdrawn.decision.action == "remove"
    assert withdrawn.output is created.output  # on the topic the listing was on
    assert [r.value is None for r, _ in decided.changelog] == [False, True]  # the state, then its tombstone
    assert states.get("L-1", 0) is None and states.partitions[0] == {}
    assert decided.withdrawals == ["LISTING_DELETED"]  # the removal is noted for the metrics
    registry = CollectorRegistry()
    Metrics(registry, "t").decided(decided, 2)
    assert registry.get_sample_value("stream_filter_batch_records_sum") == 2
    assert registry.get_sample_value("stream_filter_records_consumed_total") == 2


def test_an_unreadable_partition_fails_only_its_own_events() -> None:
    states = MemoryStates({0: {}})  # partition 1 is not loaded
    decided = _decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-2", 1, 0)], states.view)
    assert sorted(r.key for r, _ in decided.outputs if r.output is not Output.STATE) == [b"L-1", b"L-2"]
    assert [(r.key, r.partition) for r, _ in decided.changelog] == [(b"L-1", 0)]
    assert states.get("L-1", 0) is not None


def test_a_partition_not_written_is_forgotten_and_its_changelog_kept() -> None:
    """The changelog is the truth: its records still go out, and the partition is loaded again from it."""
    states = MemoryStates({0: {}, 1: {}}, broken={1})
    decided = _decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-2", 1, 0)], states.view)
    assert sorted((r.key, r.partition) for r, _ in decided.changelog) == [(b"L-1", 0), (b"L-2", 1)]
    assert set(states.partitions) == {0} and states.get("L-1", 0) is not None
    assert len([r for r, _ in decided.outputs if r.decision is not None]) == 2


def test_state_records_wait_for_the_decisions_only_when_a_listing_is_withdrawn() -> None:
    states = MemoryStates({0: {}})
    decider = _decider()
    plain = decider.decide([listing_msg("L-1", 0, 0), listing_msg("L-2", 0, 1)], states.view)
    assert not withdraws(plain.outputs)
    moved = decider.decide([listing_msg("L-1", 0, 2, event_type="listing.deleted")], states.view)  # L-1 known
    assert withdraws(moved.outputs)


def test_a_state_view_that_cannot_open_leaves_every_decision() -> None:
    def broken(_: object) -> MemoryView:
        raise OSError("store gone")

    decided = _decider().decide([listing_msg("L-1", 0, 0)], broken)
    assert [r.key for r, _ in decided.outputs] == [b"L-1"] and decided.changelog == []
