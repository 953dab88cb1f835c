"""The listing lifecycle and re-evaluation, without Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson

from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.lifecycle import advance, policy_in_force, reevaluate
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.route import Output, Routed, route
from tests.factories import event_dict, policy_text

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
V1 = PolicyBook([parse_policy(policy_text(version="1", clusters="textile_fashion"))])
V2 = PolicyBook([parse_policy(policy_text(version="2", clusters="textile_fashion, food_beverage"))])
FOOD = "Keripik Pedas Level 10 Khas Bandung 250gr"
CROSS_BORDER = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}


def _route(book: PolicyBook, **fields: object) -> Routed:
    body = event_dict(**{**CROSS_BORDER, **fields})
    return route(str(body["listing_id"]).encode(), orjson.dumps(body), book, now=NOW)


def _state(book: PolicyBook, **fields: object) -> ListingState:
    step = advance(_route(book, **fields), None, 3)
    assert step.state is not None
    return step.state


def test_a_replay_sends_the_same_bytes_whatever_the_listings_layout() -> None:
    """A listing written by another JSON writer (spaces, escaped non-ASCII): the decision rebuilt from
    the state read back is byte for byte the one first sent."""
    body = event_dict(**{**CROSS_BORDER, "title": "Kain Tenun Ikat \u00e9"})
    routed = route(None, json.dumps(body, indent=1).encode(), V1, require_key=False, now=NOW)
    state = advance(routed, None, 0, offset=7).state
    assert state is not None
    again = ListingState.from_bytes(state.to_bytes()).replay(7)
    assert [(r.output, r.key, r.value, r.headers) for r in again] == [(routed.output, routed.key, routed.value,
                                                                       routed.headers)]


def test_state_round_trips_through_bytes() -> None:
    state = _state(V1, title=FOOD)
    assert ListingState.from_bytes(state.to_bytes()) == state
    assert state.partition == 3 and state.outcome is Outcome.APPROVED


def test_update_that_moves_the_listing_withdraws_it_from_its_old_topic() -> None:
    before = _state(V2)  # a T-shirt: textile, rejected
    step = advance(_route(V2, event_id="ev-2", event_type="listing.updated", title="Casing HP Silikon",
                          price={"amount": "200", "currency": "USD"}), before, 3)
    assert [(r.output, r.decision.action if r.decision else None) for r in step.records] == [
        (Output.APPROVED, "upsert"), (Output.REJECTED, "remove")]
    withdrawal = step.records[1].decision
    assert withdrawal is not None and withdrawal.reasons[0].code == "LISTING_MOVED"
    assert step.state is not None and step.state.outcome is Outcome.APPROVED and step.state.event_id == "ev-2"


def test_update_with_the_same_outcome_sends_only_the_decision() -> None:
    before = _state(V2)
    step = advance(_route(V2, event_id="ev-2", event_type="listing.updated", title="Kemeja Batik Pria"), before, 3)
    assert [r.output for r in step.records] == [Output.REJECTED]


def test_delete_goes_to_the_topic_the_listing_is_on_and_forgets_it() -> None:
    before = _state(V2)
    step = advance(_route(V2, event_id="ev-2", event_type="listing.deleted", title=None), before, 3)
    assert step.remove and step.state is None
    [record] = step.records
    assert record.output is Output.REJECTED and record.decision is not None
    assert record.decision.action == "remove" and record.decision.reasons[0].code == "LISTING_DELETED"
    unknown = advance(_route(V2, event_id="ev-3", event_type="listing.deleted", title=None), None, 3)
    assert unknown.remove and [r.output for r in unknown.records] == [Output.APPROVED]


def test_dead_letters_leave_the_state_alone() -> None:
    before = _state(V1)
    dead = route(b"L-1", b"{broken", V1, now=NOW)
    step = advance(dead, before, 3)
    assert step.records == [dead] and step.state is before and not step.remove


def test_reevaluation_revokes_reinstates_and_skips() -> None:
    food = _state(V1, title=FOOD)
    assert policy_in_force(V1, NOW) == food.policy
    assert reevaluate(food, V1, NOW) is None  # decided under the policy in force: skipped
    revoked = reevaluate(food, V2, NOW)
    assert revoked is not None and revoked.state is not None
    new, gone = revoked.records
    assert new.output is Output.REJECTED and new.decision is not None
    assert [r.code for r in new.decision.reasons] == ["POLICY_CHANGE_REVOKED", "CLUSTER_BLOCKED_CROSS_BORDER"]
    assert new.decision.policy.version == "2" and new.decision.event_id == food.event_id
    assert gone.output is Output.APPROVED and gone.decision is not None and gone.decision.action == "remove"
    assert revoked.state.outcome is Outcome.REJECTED and revoked.state.policy.version == "2"
    assert reevaluate(revoked.state, V2, NOW) is None  # a resumed pass does not revoke twice

    reinstated = reevaluate(revoked.state, V1, NOW)
    assert reinstated is not None and reinstated.state is not None and reinstated.records[0].decision is not None
    assert reinstated.records[0].output is Output.APPROVED
    assert reinstated.records[0].decision.reasons[0].code == "POLICY_CHANGE_REINSTATED"
    again = reevaluate(reinstated.state, V2, NOW)  # the policy flips back: a new id, not a replay's
    assert again is not None and again.records[0].decision is not None
    assert again.records[0].decision.decision_id != new.decision.decision_id
    assert reevaluate(food, V2, NOW) == revoked  # the same input gives the same records (replays)


def test_reevaluation_of_an_unaffected_listing_sends_nothing() -> None:
    phone = _state(V1, title="Casing HP Silikon", price={"amount": "200", "currency": "USD"})
    step = reevaluate(phone, V2, NOW)
    assert step is not None and step.records == [] and step.state is None


def test_a_full_pass_catches_what_a_new_day_changes() -> None:
    """Same policy version, but the seller's exemption ended: only a forced (daily) pass sees it."""
    exempt = PolicyBook([parse_policy(policy_text(version="1", clusters="textile_fashion")
                                      + "exemptions:\n  sellers: [{value: S-1, until: 2026-11-27}]\n")])
    body = event_dict(**{**CROSS_BORDER, "seller": {"country": "CN", "id": "S-1"}}, occurred_at="2026-11-27T01:00:00Z")
    routed = route(b"L-1", orjson.dumps(body), exempt, now=datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    state = advance(routed, None, 0).state
    assert state is not None and state.outcome is Outcome.APPROVED  # exempt on the 27th
    assert reevaluate(state, exempt, NOW) is None  # the 28th, same version: a normal pass skips it
    forced = reevaluate(state, exempt, NOW, force=True)
    assert forced is not None and forced.state is not None and forced.state.outcome is Outcome.REJECTED
    assert forced.records[0].decision is not None
    assert forced.records[0].decision.reasons[0].code == "POLICY_CHANGE_REVOKED"


def test_the_latest_decision_rebuilt_from_the_state_is_the_one_sent() -> None:
    routed = _route(V1, title=FOOD)
    state = advance(routed, None, 3, offset=9).state
    assert state is not None and state.offset == 9
    rebuilt = ListingState.from_bytes(state.to_bytes()).latest()
    assert (rebuilt.output, rebuilt.key, rebuilt.value, rebuilt.headers) == (routed.output, routed.key, routed.value,
                                                                              routed.headers)


def test_a_move_keeps_its_withdrawal_for_a_replay() -> None:
    before = advance(_route(V2), None, 3, offset=1).state  # a T-shirt: rejected
    moved = advance(_route(V2, event_id="ev-2", title="Casing HP Silikon", price={"amount": "200", "currency": "USD"}),
                    before, 3, offset=2)
    assert moved.state is not None
    state = ListingState.from_bytes(moved.state.to_bytes())
    assert [(r.output, r.value) for r in state.replay(2)] == [(r.output, r.value) for r in moved.records]
    assert state.replay(1) == []  # an earlier batch's event: acknowledged before this state was written
    again = advance(_route(V2, event_id="ev-2", title="Casing HP Silikon", price={"amount": "200", "currency": "USD"}),
                    state, 3, offset=2)
    assert again.replay and again.state is state and [r.value for r in again.records] == [r.value for r in
                                                                                           moved.records]
    assert not advance(_route(V2, event_id="ev-3"), state, 4, offset=2).replay  # another partition: not a replay


def test_a_state_written_before_replays_were_exact_is_read_with_nothing_to_replay() -> None:
    state = _state(V1, title=FOOD)
    old = orjson.loads(state.to_bytes())
    for key in ("off", "rs", "at", "sent"):
        del old[key]
    old["v"] = 1
    read = ListingState.from_bytes(orjson.dumps(old))
    assert read.offset is None and read.sent == () and read.listing == state.listing
    assert not read.applied(3, 0) and read.replay(0) == []


def test_reevaluation_sends_the_latest_batchs_records_again_first() -> None:
    phone = advance(_route(V1, title="Casing HP Silikon", price={"amount": "200", "currency": "USD"}), None, 3,
                    offset=1)
    assert phone.state is not None and phone.state.sent == ()  # a new listing: nothing else was sent
    shirt = advance(_route(V1, event_id="ev-2"), phone.state, 3, offset=2)  # approved -> rejected
    assert shirt.state is not None and [s.output for s in shirt.state.sent] == [Output.APPROVED]
    step = reevaluate(shirt.state, PolicyBook([parse_policy(policy_text(version="9", clusters="crafts"))]), NOW)
    assert step is not None and step.state is not None
    assert [r.value for r in step.records[:2]] == [r.value for r in shirt.records]  # the latest batch, same bytes
    assert [(r.output, r.decision.action) for r in step.records if r.decision] == [
        (Output.REJECTED, "upsert"), (Output.APPROVED, "remove"), (Output.APPROVED, "upsert"),
        (Output.REJECTED, "remove")]
    assert [s.output for s in step.state.sent] == [Output.REJECTED]  # what this pass withdrew, for a replay


def test_the_same_version_with_other_rules_is_another_policy() -> None:
    """Content-addressed: a re-evaluation does not take an edited version for the one it decided
    under, and a decision under it gets another id."""
    edited = PolicyBook([parse_policy(policy_text(version="1", clusters="textile_fashion, food_beverage"))])
    [v1], [v1_edited] = V1.policies, edited.policies
    assert v1.ref.version == v1_edited.ref.version and v1.digest != v1_edited.digest
    food = _state(V1, title=FOOD)
    assert food.outcome is Outcome.APPROVED and food.policy.digest == v1.digest
    step = reevaluate(food, edited, NOW)
    assert step is not None and step.state is not None and step.state.outcome is Outcome.REJECTED
    before, after = _route(V1, title=FOOD).decision, _route(edited, title=FOOD).decision
    assert before is not None and after is not None and before.decision_id != after.decision_id
    assert ListingState.from_bytes(food.to_bytes()).policy == food.policy


def test_a_state_written_before_digests_reads_with_an_empty_one() -> None:
    data = orjson.loads(_state(V1).to_bytes())
    data["policy"] = data["policy"][:2]
    assert ListingState.from_bytes(orjson.dumps(data)).policy.digest == ""


def test_a_future_version_changes_nothing_today_and_takes_over_on_its_date() -> None:
    """The live book holds both versions: today's pass leaves the listing, the pass on the new
    version's date (the day-change pass, clock injected here) moves it."""
    future = parse_policy(policy_text(version="2", clusters="textile_fashion, food_beverage", start="2026-12-01"))
    book = PolicyBook([*V1.policies, future])
    food = _state(book, title=FOOD)
    assert food.outcome is Outcome.APPROVED and food.policy.version == "1"
    assert reevaluate(food, book, NOW) is None
    on_the_date = reevaluate(food, book, datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # 00:00 WIB, Dec 1
    assert on_the_date is not None and on_the_date.state is not None
    assert on_the_date.state.outcome is Outcome.REJECTED and on_the_date.state.policy.version == "2"


def test_a_state_made_fast_equals_one_made_by_the_dataclass() -> None:
    """`ListingState.made` and `from_bytes` skip `__init__`: the result must be the same state."""
    from dataclasses import fields, replace

    from tests.factories import MemoryStates, decider, listing_msg

    states = MemoryStates({0: {}})
    decider().decide([listing_msg("L-1", 0, 0), listing_msg("L-1", 0, 1, title="Kopi Gayo Arabika 250g")],
                     states.view)
    state = states.get("L-1", 0)
    assert state is not None and state.history
    again = ListingState.from_bytes(state.to_bytes())
    assert again == replace(again) == state
    assert {f.name for f in fields(ListingState)} == set(vars(again))
