"""The consumer model: records applied in order, duplicates dropped, removals honoured."""

from __future__ import annotations

import orjson

from stream_filter.core.catalogue import Catalogue, expected_topics
from stream_filter.core.policy.book import PolicyBook
from tests.factories import event_dict


def _record(decision_id: str, listing_id: str, action: str = "upsert") -> bytes:
    return orjson.dumps({"decision_id": decision_id, "listing_id": listing_id, "action": action})


def test_upserts_removals_and_replays() -> None:
    catalogue = Catalogue()
    catalogue.apply("rejected", _record("d1", "L-1"))
    catalogue.apply("approved", _record("d2", "L-1"))
    catalogue.apply("rejected", _record("w1", "L-1", "remove"))
    catalogue.apply("rejected", _record("d1", "L-1"))  # a replay of an applied decision: dropped
    assert catalogue.topics_of() == {"L-1": {"approved"}} and catalogue.duplicates == 1
    assert catalogue.differences({"L-1": "approved"}) == {}
    assert catalogue.differences({"L-1": "rejected", "L-2": None}) == {"L-1": ({"approved"}, "rejected")}
    catalogue.apply("approved", _record("w2", "L-1", "remove"))
    assert catalogue.differences({"L-1": None}) == {} and catalogue.counts()["approved"] == 0


def test_a_replay_with_a_new_withdrawal_id_shows_as_a_difference() -> None:
    """The bug exact replays fix: a withdrawal with a new id, then the upsert with the old id (dropped)."""
    catalogue = Catalogue()
    catalogue.apply("approved", _record("d2", "L-1"))
    catalogue.apply("approved", _record("w-new", "L-1", "remove"))
    catalogue.apply("approved", _record("d2", "L-1"))
    assert catalogue.differences({"L-1": "approved"}) == {"L-1": (set(), "approved")}


def test_expected_topics_follow_the_latest_decision_of_each_listing() -> None:
    cross_border = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}
    local = {"seller": {"country": "ID"}, "ship_from": {"location": "Kota Bandung"}}
    lines = [orjson.dumps(event_dict(listing_id="L-1", event_id="e1", **cross_border)),
             orjson.dumps(event_dict(listing_id="L-1", event_id="e2", **local)),
             orjson.dumps(event_dict(listing_id="L-2", event_id="e3", **cross_border)),
             orjson.dumps(event_dict(listing_id="L-3", event_id="e4", **local)),
             orjson.dumps(event_dict(listing_id="L-3", event_id="e5", event_type="listing.deleted")),
             b"{broken"]
    assert expected_topics(lines, PolicyBook.load("default")) == {"L-1": "approved", "L-2": "rejected", "L-3": None}
