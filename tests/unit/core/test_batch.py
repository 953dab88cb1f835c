"""The batch decider without a broker: state read once per batch, failures kept to their partition."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry

from stream_filter.core.batch import BatchDecider
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.route import Output, Routed
from stream_filter.worker.metrics import Metrics
from tests.factories import MemoryStates, MemoryView, decider, listing_msg

CROSS_BORDER = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}
LOCAL = {"seller": {"country": "ID"}, "ship_from": {"location": "Kota Bandung"}}


def test_a_listing_twice_in_one_batch_sees_its_own_earlier_state() -> None:
    """Created then deleted in the same batch: the deletion withdraws the decision made just before."""
    states = MemoryStates({0: {}})
    decided = decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-1", 0, 1, event_type="listing.deleted")],
                                states.view)
    created, withdrawn = (routed for routed, _ in decided.outputs)
    assert created.decision is not None and created.decision.action == "upsert"
    assert withdrawn.decision is not None and withdrawn.decision.action == "remove"
    assert withdrawn.output is created.output  # on the topic the listing was on
    assert [r.value is None for r, _ in decided.changelog] == [True]  # the listing's last write: its tombstone
    assert states.get("L-1", 0) is None and states.partitions[0] == {}
    assert decided.withdrawals == ["LISTING_DELETED"]  # the removal is noted for the metrics
    registry = CollectorRegistry()
    Metrics(registry, "t").decided(decided, 2)
    assert registry.get_sample_value("stream_filter_batch_records_sum") == 2
    assert registry.get_sample_value("stream_filter_records_consumed_total") == 2


def test_an_unreadable_partition_fails_only_its_own_events() -> None:
    states = MemoryStates({0: {}})  # partition 1 is not loaded
    decided = decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-2", 1, 0)], states.view)
    assert sorted(r.key for r, _ in decided.outputs if r.output is not Output.STATE) == [b"L-1", b"L-2"]
    assert [(r.key, r.partition) for r, _ in decided.changelog] == [(b"L-1", 0)]
    assert states.get("L-1", 0) is not None


def test_a_partition_not_written_is_forgotten_and_its_changelog_kept() -> None:
    """The changelog is the truth: its records still go out, and the partition is loaded again from it."""
    states = MemoryStates({0: {}, 1: {}}, broken={1})
    decided = decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-2", 1, 0)], states.view)
    assert sorted((r.key, r.partition) for r, _ in decided.changelog) == [(b"L-1", 0), (b"L-2", 1)]
    assert set(states.partitions) == {0} and states.get("L-1", 0) is not None
    assert len([r for r, _ in decided.outputs if r.decision is not None]) == 2


def _ids(outputs: list[tuple[Routed, object]]) -> list[tuple[str, str, str]]:
    return [(r.output.value, r.decision.action, r.decision.decision_id) for r, _ in outputs if r.decision]


def test_a_replay_over_a_state_already_ahead_sends_what_was_sent_with_the_same_ids() -> None:
    """Two events of one listing decided differently (cross-border, then local), in two batches; the
    state then holds the second. Replaying both sends nothing for the first (its batch was acknowledged
    before the second's state was written) and the second's records again, byte for byte."""
    states = MemoryStates({0: {}})
    batch = decider()
    first = batch.decide([listing_msg("L-1", 0, 10, **CROSS_BORDER)], states.view)
    second = batch.decide([listing_msg("L-1", 0, 11, **LOCAL)], states.view)
    assert [o for o, _, _ in _ids(second.outputs)] == ["approved", "rejected"]  # moved: withdrawn from rejected
    replay = decider().decide([listing_msg("L-1", 0, 10, **CROSS_BORDER), listing_msg("L-1", 0, 11, **LOCAL)],
                               states.view)
    assert [(r.output, r.value) for r, _ in replay.outputs] == [(r.output, r.value) for r, _ in second.outputs]
    assert replay.changelog == [] and first.changelog  # the state is left as it is


def test_a_replay_after_a_policy_change_still_sends_what_was_sent() -> None:
    """The state was acknowledged, the decisions were not: the replay must not decide anew."""
    states = MemoryStates({0: {}})
    first = decider().decide([listing_msg("L-1", 0, 5, **CROSS_BORDER)], states.view)
    other = BatchDecider(PolicyHolder(PolicyBook.load("shopee-13-2021")), max_value_bytes=1_048_576,
                         clock="event", max_age=None, dedupe_window=0)
    replay = other.decide([listing_msg("L-1", 0, 5, **CROSS_BORDER)], states.view)
    assert _ids(replay.outputs) == _ids(first.outputs) and replay.changelog == []


def test_every_event_of_a_listing_in_the_latest_batch_is_replayed() -> None:
    """Three events of one listing in one batch (rejected, approved, rejected): its state keeps what
    each sent, so a replay of the batch sends all of it again, in order."""
    states = MemoryStates({0: {}})
    batch = [listing_msg("L-1", 0, 20, **CROSS_BORDER), listing_msg("L-1", 0, 21, **LOCAL),
             listing_msg("L-1", 0, 22, **CROSS_BORDER)]
    first = decider().decide(batch, states.view)
    assert len(first.changelog) == 1  # the listing's last state only
    assert [o for o, _, _ in _ids(first.outputs)] == ["rejected", "approved", "rejected", "rejected", "approved"]
    replay = decider().decide(batch, states.view)
    assert [(r.output, r.value) for r, _ in replay.outputs] == [(r.output, r.value) for r, _ in first.outputs]


def test_a_deletion_goes_out_before_its_tombstone_and_a_replay_withdraws_again() -> None:
    states = MemoryStates({0: {}})
    decider().decide([listing_msg("L-1", 0, 1, **CROSS_BORDER)], states.view)
    deleted = decider().decide([listing_msg("L-1", 0, 2, event_type="listing.deleted")], states.view)
    assert [r.value for r, _ in deleted.changelog] == [None]
    assert [(o, a) for o, a, _ in _ids(deleted.outputs)] == [("rejected", "remove")]


def test_a_record_too_large_to_send_is_dead_lettered_and_the_state_left_alone() -> None:
    states = MemoryStates({0: {}})
    small = BatchDecider(PolicyHolder(PolicyBook.load("default")), max_value_bytes=1_048_576, clock="event",
                         max_age=None, dedupe_window=0, max_output_bytes=2_000)
    decider().decide([listing_msg("L-1", 0, 1, **LOCAL)], states.view)
    before = states.get("L-1", 0)
    decided = small.decide([listing_msg("L-1", 0, 2, description="kain katun " * 200, **CROSS_BORDER)],
                           states.view)
    [(dead, _)] = decided.outputs
    assert dead.output is Output.DEAD_LETTER and dict(dead.headers)["error-code"] == b"OUTPUT_TOO_LARGE"
    assert decided.changelog == [] and states.get("L-1", 0) == before


def test_a_state_view_that_cannot_open_leaves_every_decision() -> None:
    def broken(_: object) -> MemoryView:
        raise OSError("store gone")

    decided = decider().decide([listing_msg("L-1", 0, 0)], broken)
    assert [r.key for r, _ in decided.outputs] == [b"L-1"] and decided.changelog == []


def test_a_replay_is_never_turned_into_a_dead_letter() -> None:
    """Past the age horizon by the time it is replayed, the event still sends what it sent."""
    states = MemoryStates({0: {}})
    first = decider().decide([listing_msg("L-1", 0, 3, **CROSS_BORDER)], states.view)
    strict = BatchDecider(PolicyHolder(PolicyBook.load("default")), max_value_bytes=1_048_576, clock="event",
                          max_age=timedelta(seconds=1), dedupe_window=0)
    replay = strict.decide([listing_msg("L-1", 0, 3, **CROSS_BORDER)], states.view)
    assert _ids(replay.outputs) == _ids(first.outputs) and replay.replays == [True]
    fresh = strict.decide([listing_msg("L-1", 0, 4, **CROSS_BORDER)], states.view)  # a new event: too old
    assert [r.output for r, _ in fresh.outputs] == [Output.DEAD_LETTER]

