"""The batch decider without a broker: state read once per batch, failures kept to their partition."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from stream_filter.batch import BatchDecider
from stream_filter.listing_states import ListingStates
from stream_filter.metrics import Metrics
from stream_filter.pipeline import Output
from stream_filter.policy_feed import PolicyHolder
from stream_filter.policy_files import PolicyBook
from stream_filter.settings import Settings
from tests.unit.helpers import event_dict


@dataclass
class Msg:
    key: bytes
    value: bytes
    partition: int
    offset: int
    topic: str = "listings.new"


def _decider(tmp_path: Path, partitions: tuple[int, ...]) -> tuple[BatchDecider, ListingStates, CollectorRegistry]:
    settings = Settings(state_store="memory", data_dir=str(tmp_path))
    states = ListingStates(settings)
    for partition in partitions:
        states._parts[partition] = states._open(partition)
    registry = CollectorRegistry()
    return BatchDecider(settings, PolicyHolder(PolicyBook.load("default")), states, Metrics(registry, "t")), states, \
        registry


def _msg(listing_id: str, partition: int, offset: int, **fields: str) -> Msg:
    body = event_dict(listing_id=listing_id, event_id=f"ev-{listing_id}-{offset}", **fields)
    return Msg(listing_id.encode(), orjson.dumps(body), partition, offset)


def test_a_listing_twice_in_one_batch_sees_its_own_earlier_state(tmp_path: Path) -> None:
    """Created then deleted in the same batch: the deletion withdraws the decision made just before."""
    decider, states, registry = _decider(tmp_path, (0,))
    batch, changelog = decider.decide([_msg("L-1", 0, 0), _msg("L-1", 0, 1, event_type="listing.deleted")])
    created, withdrawn = (routed for routed, _ in batch)
    assert created.decision is not None and created.decision.action == "upsert"
    assert withdrawn.decision is not None and withdrawn.decision.action == "remove"
    assert withdrawn.output is created.output  # on the topic the listing was on
    assert [r.value is None for r, _ in changelog] == [False, True]  # the state, then its tombstone
    assert states.get("L-1", 0) is None and states.keys([0]) == []
    assert registry.get_sample_value("stream_filter_batch_records_sum") == 2


def test_an_unreadable_partition_fails_only_its_own_events(tmp_path: Path) -> None:
    decider, states, _ = _decider(tmp_path, (0,))  # partition 1 is not loaded
    batch, changelog = decider.decide([_msg("L-1", 0, 0), _msg("L-2", 1, 0)])
    assert sorted(r.key for r, _ in batch if r.output is not Output.STATE) == [b"L-1", b"L-2"]  # both decided
    assert [(r.key, r.partition) for r, _ in changelog] == [(b"L-1", 0)]
    assert states.get("L-1", 0) is not None


class BrokenMap(dict[bytes, bytes]):
    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise OSError("disk full")


def test_a_partition_not_written_is_forgotten_and_its_changelog_kept(tmp_path: Path) -> None:
    """The changelog is the truth: its records still go out, and the partition is loaded again from it."""
    decider, states, _ = _decider(tmp_path, (0, 1))
    states._parts[1] = BrokenMap()
    batch, changelog = decider.decide([_msg("L-1", 0, 0), _msg("L-2", 1, 0)])
    assert sorted((r.key, r.partition) for r, _ in changelog) == [(b"L-1", 0), (b"L-2", 1)]
    assert states.loaded() == {0} and states.get("L-1", 0) is not None
    assert len([r for r, _ in batch if r.decision is not None]) == 2


def test_state_records_wait_for_the_decisions_only_when_a_listing_is_withdrawn(tmp_path: Path) -> None:
    from stream_filter.app import withdraws

    decider, _, _ = _decider(tmp_path, (0,))
    plain, _ = decider.decide([_msg("L-1", 0, 0), _msg("L-2", 0, 1)])
    assert not withdraws(plain)
    moved, _ = decider.decide([_msg("L-1", 0, 2, event_type="listing.deleted")])  # L-1 is known: withdrawn
    assert withdraws(moved)
