"""Re-evaluation without a broker: a chunk of listing states decided again under a new live policy,
its records delivered through recording topics, its states kept in the in-memory store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from stream_filter.core.classify.classifier import Classifier, default_classifier
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.route import Output, route
from stream_filter.kafka.input_partitioner import InputPartitioner
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.enforcement import Enforcer
from stream_filter.worker.metrics import Metrics
from tests.factories import NEW_WORD, RecordingTopic, event_dict, garment_classifier, held_keys

CROSS_BORDER = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}
SHOPEE, AKAR = PolicyBook.load("shopee-13-2021"), PolicyBook.load("akar-2021")


def _state(listing_id: str, book: PolicyBook, title: str = "Kaos Polos Cotton Combed 30s") -> ListingState:
    body = event_dict(listing_id=listing_id, event_id=f"ev-{listing_id}", title=title, **CROSS_BORDER)
    step = advance(route(listing_id.encode(), orjson.dumps(body), book), None, 0)
    assert step.state is not None
    return step.state


Parts = tuple[Enforcer, ListingStates, dict[Output, RecordingTopic], CollectorRegistry]


def _enforcer(tmp_path: Path, live: PolicyBook, limit: int = 1_000_000,
              classifier: Classifier | None = None) -> Parts:
    states = ListingStates(Settings(state_store="memory", data_dir=str(tmp_path)))
    states.open(0)
    topics = {o: RecordingTopic() for o in Output}
    registry = CollectorRegistry()
    metrics = Metrics(registry, "t")
    async def loaded(partitions: set[int]) -> None:  # the store is open already
        assert partitions == {0}

    enforcer = Enforcer(states, PolicyHolder(live), Deliverer(topics, metrics), metrics, asyncio.Lock(),
                        owned=lambda: {0}, load=loaded, busy=lambda: False, max_output_bytes=limit,
                        classifier=classifier)
    return enforcer, states, topics, registry


def test_a_tightened_policy_moves_live_listings_and_keeps_their_new_state(tmp_path: Path) -> None:
    enforcer, states, topics, registry = _enforcer(tmp_path, AKAR)
    view = states.view([])
    for listing_id in ("L-1", "L-2"):
        state = _state(listing_id, SHOPEE)
        assert state.outcome is Outcome.APPROVED  # a plain T-shirt is not closed by the 13 categories
        view.put(listing_id, 0, state)
    view.flush()
    active = asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False))
    assert active == 2
    rejected = [orjson.loads(r["value"]) for r in topics[Output.REJECTED].sent]
    removed = [orjson.loads(r["value"]) for r in topics[Output.APPROVED].sent]
    assert sorted(d["listing_id"] for d in rejected) == ["L-1", "L-2"]
    assert all(d["action"] == "upsert" and d["reasons"][0]["code"] == "POLICY_CHANGE_REVOKED" for d in rejected)
    assert sorted(d["listing_id"] for d in removed) == ["L-1", "L-2"] and all(d["action"] == "remove"
                                                                             for d in removed)
    changelog = [ListingState.from_bytes(r["value"]) for r in topics[Output.STATE].sent]
    assert {s.outcome for s in changelog} == {Outcome.REJECTED}
    assert {s.listing_id: s for s in changelog}["L-1"] == states.get_key(0, b"L-1")  # the store holds it too
    assert registry.get_sample_value("stream_filter_reevaluation_changes_total",
                                     {"before": "approved", "after": "rejected"}) == 2


def test_a_second_pass_under_the_same_policy_sends_nothing(tmp_path: Path) -> None:
    enforcer, states, topics, _ = _enforcer(tmp_path, AKAR)
    view = states.view([])
    view.put("L-1", 0, _state("L-1", SHOPEE))
    view.flush()
    asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False))
    sent = sum(len(t.sent) for t in topics.values())
    asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False))
    assert sum(len(t.sent) for t in topics.values()) == sent > 0


def test_a_new_classifier_moves_what_it_reads_otherwise_and_notes_the_rest_once(tmp_path: Path) -> None:
    """A worker started with another classifier: its first pass reads every stored listing again, under
    the same policy; the catalogue built from the topics follows each listing's new decision."""
    garment = garment_classifier(tmp_path)
    enforcer, states, topics, registry = _enforcer(tmp_path, AKAR, classifier=garment)
    view = states.view([])
    first = {"L-1": _state("L-1", AKAR, f"{NEW_WORD} Premium Edition"), "L-2": _state("L-2", AKAR, "Casing HP Silikon")}
    for listing_id, state in first.items():
        assert state.outcome is Outcome.APPROVED and state.classifier == default_classifier().version
        view.put(listing_id, 0, state)
    view.flush()
    asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False))
    catalogue = {lid: (s.decision_id, "approved") for lid, s in first.items()}  # built from the first decisions
    for output in (Output.APPROVED, Output.REJECTED, Output.REVIEW):
        for sent in topics[output].sent:
            record = orjson.loads(sent["value"])
            if record["action"] == "remove":
                catalogue.pop(record["listing_id"], None)
            else:
                catalogue[record["listing_id"]] = (record["decision_id"], output.value)
    held = {lid: states.get_key(0, lid.encode()) for lid in first}
    assert catalogue == {lid: (s.decision_id, s.outcome.value) for lid, s in held.items() if s is not None}
    assert catalogue["L-1"][1] == "rejected" and catalogue["L-2"] == (first["L-2"].decision_id, "approved")
    assert {s.listing_id: s.last_read for s in held.values() if s} == {"L-1": garment.version, "L-2": garment.version}
    assert len(topics[Output.STATE].sent) == 2  # the move, and the note that L-2 was read
    assert registry.get_sample_value("stream_filter_reevaluation_changes_total",
                                     {"before": "approved", "after": "rejected"}) == 1
    sent = sum(len(t.sent) for t in topics.values())
    asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False))
    assert sum(len(t.sent) for t in topics.values()) == sent  # read once: the next pass neither sends nor writes


def test_a_dropped_partition_is_skipped_not_counted_as_an_error(tmp_path: Path) -> None:
    enforcer, states, topics, registry = _enforcer(tmp_path, AKAR)
    view = states.view([])
    view.put("L-1", 0, _state("L-1", SHOPEE))
    view.flush()
    keys = held_keys(states, {0})
    states.forget([0])  # revoked, or a failed write, between the snapshot and the chunk
    assert asyncio.run(enforcer._chunk(keys, full=False)) == 0
    assert all(t.sent == [] for t in topics.values())
    assert registry.get_sample_value("stream_filter_reevaluation_errors_total") == 0


def test_a_stale_copy_left_on_an_old_partition_is_not_decided_again(tmp_path: Path) -> None:
    """After input partitions were added, a listing that moved keeps a copy on its old partition until
    that is loaded again; its new owner decides it."""
    enforcer, states, topics, _ = _enforcer(tmp_path, AKAR)
    view = states.view([])
    view.put("L-1", 0, _state("L-1", SHOPEE))
    view.flush()
    states.count = 64  # L-1's key lands elsewhere among 64 partitions
    assert states.belongs(0, b"L-1")  # while the input's partitioner is not known, nothing is skipped
    states.partitioner = InputPartitioner("murmur2")
    assert not states.belongs(0, b"L-1")
    assert asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False)) == 0
    assert all(t.sent == [] for t in topics.values())


def test_a_change_too_large_to_send_is_skipped_whole(tmp_path: Path) -> None:
    """Outputs and state agree: neither the records nor the new state go out; the skip is counted."""
    enforcer, states, topics, registry = _enforcer(tmp_path, AKAR, limit=1_200)
    view = states.view([])
    view.put("L-1", 0, _state("L-1", SHOPEE))
    view.flush()
    before = states.get_key(0, b"L-1")
    assert asyncio.run(enforcer._chunk(held_keys(states, {0}), full=False)) == 1
    assert all(t.sent == [] for t in topics.values()) and states.get_key(0, b"L-1") == before
    assert registry.get_sample_value("stream_filter_reevaluation_errors_total") == 1



def test_a_paused_enforcer_neither_loads_nor_decides(tmp_path: Path) -> None:
    """Revoked or shutting down (the stores sealed): a pass asked for meanwhile waits for the next
    assignment instead of loading partitions again."""
    enforcer, states, topics, _ = _enforcer(tmp_path, AKAR)
    loads: list[set[int]] = []

    async def load(partitions: set[int]) -> None:
        loads.append(partitions)

    enforcer.load = load
    view = states.view([])
    view.put("L-1", 0, _state("L-1", SHOPEE))
    view.flush()
    enforcer.pause()
    enforcer.request(full=True)
    asyncio.run(enforcer.run_pass())
    assert loads == [] and topics[Output.REJECTED].sent == [] and enforcer.full
    enforcer.resume()
    asyncio.run(enforcer.run_pass())
    assert loads == [{0}] and len(topics[Output.REJECTED].sent) == 1


def test_a_day_pass_cut_short_is_not_lost(tmp_path: Path) -> None:
    """A new request (or a failure) during a full pass leaves the full request for the next pass: an
    exemption that ended yesterday must not stay applied."""
    enforcer, states, _, _ = _enforcer(tmp_path, AKAR)
    view = states.view([])
    view.put("L-1", 0, _state("L-1", SHOPEE))
    view.flush()

    async def interrupted(partitions: set[int]) -> None:
        enforcer.request()  # e.g. a policy change arrives while the day pass loads

    enforcer.load = interrupted
    enforcer.request(full=True)
    asyncio.run(enforcer.run_pass())
    assert enforcer.full

    async def failing(partitions: set[int]) -> None:
        raise RuntimeError("changelog unreadable")

    enforcer.load = failing
    with pytest.raises(RuntimeError):
        asyncio.run(enforcer.run_pass())
    assert enforcer.full


def test_a_pass_hands_each_chunks_duration_to_its_pace(tmp_path: Path) -> None:
    """The worker's pace (`Worker.pace`) pauses that long while batches are being delivered."""
    enforcer, states, _, _ = _enforcer(tmp_path, AKAR)
    view = states.view([])
    for i in range(1200):  # three chunks
        view.put(f"L-{i}", 0, _state(f"L-{i}", SHOPEE))
    view.flush()
    paces: list[float] = []

    async def pace(seconds: float) -> None:
        paces.append(seconds)

    enforcer.pace = pace
    assert asyncio.run(enforcer._pass(full=False)) is True
    assert len(paces) == 3 and all(p > 0.001 for p in paces)


def test_a_pass_counts_the_listings_in_review(tmp_path: Path) -> None:
    """The review gauges of a newly owned partition come from the pass's walk, and the changes it
    makes move them (a tightened policy takes cross-border listings out of review)."""
    from stream_filter.worker.review_queue import ReviewQueue

    enforcer, states, topics, _ = _enforcer(tmp_path, AKAR)
    queue = enforcer.review = ReviewQueue()
    queue.keep({0})
    view = states.view([])
    for i in range(3):  # origin unknown: a T-shirt goes to review
        body = event_dict(listing_id=f"R-{i}", event_id=f"ev-R-{i}", title="Kaos Polos Cotton Combed 30s")
        view.put(f"R-{i}", 0, advance(route(f"R-{i}".encode(), orjson.dumps(body), AKAR), None, 0).state)
    for listing_id in ("L-1", "L-2"):
        view.put(listing_id, 0, _state(listing_id, SHOPEE))  # approved; rejected by the pass under AKAR
    view.flush()
    held = [states.get_key(0, key) for _, key in held_keys(states, {0})]
    assert sum(s is not None and s.outcome is Outcome.REVIEW for s in held) == 3
    assert queue.count() == 0  # not walked yet
    assert asyncio.run(enforcer._pass(full=False))
    assert queue.count() == 3 and queue.oldest_age_seconds() >= 0
    assert len(topics[Output.REJECTED].sent) == 2  # the pass changed the others: not counted as review
