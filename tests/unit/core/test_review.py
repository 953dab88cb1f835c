"""Review verdicts without a broker: applied once, replayed exactly, held and lapsed by the rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from stream_filter.core.batch import DecidedBatch
from stream_filter.core.catalogue import Catalogue
from stream_filter.core.contracts.dead_letter import ErrorCode
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.lifecycle import Step, reevaluate
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.review import decode_verdict, fingerprint
from stream_filter.core.route import Output, Routed
from tests.factories import UNCERTAIN, MemoryStates, Msg, decider, in_review, listing_msg, verdict_body, verdict_msg

VERDICTS = "listings.review-verdicts"


def _apply(catalogue: Catalogue, decided: DecidedBatch | list[Routed]) -> None:
    for routed in decided if isinstance(decided, list) else [r for r, _ in decided.outputs]:
        if routed.output.value in ("approved", "rejected", "review"):
            catalogue.apply(routed.output.value, routed.value)


def _in_review(states: MemoryStates, catalogue: Catalogue) -> ListingState:
    state, sent = in_review(states)
    _apply(catalogue, sent)
    return state


def _approved_by_a_reviewer(offset: int, **fields: Any) -> ListingState:
    """L-1's state once a reviewer approved it (the verdict at `offset` of the verdict topic)."""
    states = MemoryStates({0: {}})
    reviewed = _in_review(states, Catalogue())
    decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, offset, **fields)], states.view)
    state = states.get("L-1", 0)
    assert state is not None and state.by_verdict
    return state


def test_a_verdict_moves_the_listing_from_review_to_its_topic_and_says_who() -> None:
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed = _in_review(states, catalogue)
    decided = decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0)], states.view)
    _apply(catalogue, decided)
    assert catalogue.topics_of() == {"L-1": {"approved"}}
    made, removal = (r.decision for r, _ in decided.outputs)
    assert made is not None and removal is not None
    assert made.reasons[0].code == "REVIEW_VERDICT_APPROVED" and "rev-7" in made.reasons[0].message
    assert made.verdict is not None and made.verdict.answers == reviewed.decision_id
    assert made.verdict.note == "NIB checked"
    assert removal.action == "remove" and removal.outcome is Outcome.REVIEW
    state = states.get("L-1", 0)
    assert state is not None and state.by_verdict and state.verdict is not None
    assert state.verdict.seen == ("REVIEW_UNCERTAIN_BLOCKED_CLUSTER",)
    assert state.history[0].decision_id == reviewed.decision_id  # the lookup's "before"
    assert decided.verdicts[0][0] == "approved" and (decided.verdicts[0][1] or 0) > 0


def test_a_replayed_verdict_sends_what_it_sent_the_first_time_and_nothing_new() -> None:
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed = _in_review(states, catalogue)
    first = decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 4)], states.view)
    again = decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 4)], states.view)
    assert [r.value for r, _ in again.outputs] == [r.value for r, _ in first.outputs]
    assert not again.changelog  # the state is not written again
    older = decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 3)], states.view)
    assert older.outputs == []  # an earlier batch's verdict sends nothing (and is no dead letter)


def test_a_verdict_on_a_decision_that_is_not_the_latest_is_dead_lettered() -> None:
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    _in_review(states, catalogue)
    decided = decider().decide_verdicts([verdict_msg("L-1", "an-older-decision", 0)], states.view)
    (routed, _), = decided.outputs
    assert routed.output is Output.DEAD_LETTER and routed.error is not None
    assert routed.error.code is ErrorCode.STALE_VERDICT
    assert ("source-topic", VERDICTS.encode()) in routed.headers
    unknown = decider().decide_verdicts([verdict_msg("L-9", "d", 1)], states.view)
    assert unknown.outputs[0][0].error is not None and unknown.outputs[0][0].error.code is ErrorCode.STALE_VERDICT


def test_only_review_decisions_and_verdicts_can_be_answered_and_not_after_expiry() -> None:
    states = MemoryStates({0: {}})
    decider().decide([listing_msg("L-2", 0, 0, seller={"country": "ID"}, ship_from={"location": "Bandung"})],
                      states.view)
    approved = states.get("L-2", 0)
    assert approved is not None and approved.outcome is Outcome.APPROVED
    refused = decider().decide_verdicts([verdict_msg("L-2", approved.decision_id, 0, "rejected")], states.view)
    assert refused.outputs[0][0].error is not None
    assert refused.outputs[0][0].error.code is ErrorCode.VERDICT_NOT_FOR_REVIEW
    catalogue = Catalogue()
    reviewed = _in_review(states, catalogue)
    late = verdict_msg("L-1", reviewed.decision_id, 1, expires_at="2020-01-01T00:00:00Z")
    expired = decider().decide_verdicts([late], states.view)
    assert expired.outputs[0][0].error is not None and expired.outputs[0][0].error.code is ErrorCode.EXPIRED_VERDICT


def test_a_reviewer_may_change_a_verdict_and_the_listing_moves_again() -> None:
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed = _in_review(states, catalogue)
    _apply(catalogue, decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0)], states.view))
    approved = states.get("L-1", 0)
    assert approved is not None
    _apply(catalogue, decider().decide_verdicts([verdict_msg("L-1", approved.decision_id, 1, "rejected")],
                                                 states.view))
    assert catalogue.topics_of() == {"L-1": {"rejected"}}
    state = states.get("L-1", 0)
    assert state is not None and state.verdict is not None and state.verdict.since == reviewed.decided_at


def test_an_update_that_a_decision_does_not_read_keeps_the_verdict_and_one_that_it_reads_lapses_it() -> None:
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed = _in_review(states, catalogue)
    _apply(catalogue, decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0)], states.view))
    stock = decider().decide([listing_msg("L-1", 0, 1, stock=12, **UNCERTAIN)], states.view)
    _apply(catalogue, stock)
    kept = stock.outputs[0][0].decision
    assert kept is not None and kept.outcome is Outcome.APPROVED and kept.verdict is not None
    assert [r.code for r in kept.reasons] == ["REVIEW_VERDICT_APPROVED", "REVIEW_UNCERTAIN_BLOCKED_CLUSTER"]
    assert catalogue.topics_of() == {"L-1": {"approved"}}
    retitled = decider().decide([listing_msg("L-1", 0, 2, title="Kaos Polos Cotton Combed 24s")], states.view)
    _apply(catalogue, retitled)
    lapsed = retitled.outputs[0][0].decision
    assert lapsed is not None and lapsed.outcome is Outcome.REVIEW and lapsed.verdict is None
    assert lapsed.reasons[0].code == "REVIEW_VERDICT_LAPSED" and "content changed" in lapsed.reasons[0].message
    assert catalogue.topics_of() == {"L-1": {"review"}}
    state = states.get("L-1", 0)
    assert state is not None and state.verdict is None


def _book(extra: str) -> PolicyBook:
    text = ('id: t\nversion: "2"\neffective_from: 2021-01-01\nblocked_clusters:\n  - clusters: [textile_fashion]\n'
            '    reason: {code: CLUSTER_BLOCKED_CROSS_BORDER, legal_basis: test, message: "{cluster} blocked"}\n'
            + extra)
    return PolicyBook([parse_policy(text)])


def test_a_policy_change_keeps_a_verdict_unless_it_gives_a_reason_the_reviewer_did_not_see() -> None:
    state = _approved_by_a_reviewer(0)
    now = datetime(2026, 11, 5, tzinfo=UTC)
    same = reevaluate(state, _book(""), now)
    assert same is not None and same.records == [] and same.state is None  # held: nothing sent
    floor = ("min_price: {amount: 100, currency: USD, origins: [unknown], reason: "
             "{code: BELOW_MIN_FOB_PRICE, legal_basis: test, message: \"{unit_price} < {floor}\"}}\n")
    step = reevaluate(state, _book(floor), now)
    assert step is not None and step.state is not None and step.state.verdict is None
    assert step.state.outcome is Outcome.REVIEW  # back to review: the price cannot be checked
    decision = step.records[-2].decision
    assert decision is not None and [r.code for r in decision.reasons][:2] == ["REVIEW_VERDICT_LAPSED",
                                                                                "POLICY_CHANGE_REVIEW"]
    assert step.records[-1].decision is not None and step.records[-1].decision.action == "remove"
    assert step.records[-1].output is Output.APPROVED


def test_an_expired_verdict_is_decided_again_even_under_the_same_policy() -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    state = _approved_by_a_reviewer(0, expires_at=expiry.isoformat())
    book = PolicyBook.load("default")
    assert reevaluate(state, book, expiry - timedelta(minutes=1)) is None
    step = reevaluate(state, book, expiry + timedelta(minutes=1))
    assert step is not None and step.state is not None and step.state.outcome is Outcome.REVIEW
    assert "expired" in step.state.reasons[0].message


def test_a_state_with_a_verdict_and_history_reads_back_the_same() -> None:
    state = _approved_by_a_reviewer(5)
    assert ListingState.from_bytes(state.to_bytes()) == state
    assert state.verdict_offset == 5 and state.sent[0].verdict


def test_bad_verdicts_get_the_codes_listings_get() -> None:
    good = verdict_msg("L-1", "d", 0)
    assert not isinstance(decode_verdict(good.key, good.value), type(None))
    assert getattr(decode_verdict(b"L-1", b"{"), "code", None) is ErrorCode.INVALID_JSON
    assert getattr(decode_verdict(b"L-1", b"{}"), "code", None) is ErrorCode.SCHEMA_VIOLATION
    assert getattr(decode_verdict(b"L-2", good.value), "code", None) is ErrorCode.KEY_MISMATCH
    assert getattr(decode_verdict(None, good.value), "code", None) is ErrorCode.MISSING_KEY
    assert getattr(decode_verdict(b"L-1", None), "code", None) is ErrorCode.NULL_VALUE


def test_the_fingerprint_reads_only_what_a_decision_reads() -> None:
    base = {"title": "a", "price": {"amount": "1", "currency": "IDR"}}
    assert fingerprint(base) == fingerprint({**base, "stock": 3, "event_id": "x"})
    assert fingerprint(base) != fingerprint({**base, "title": "b"})


def test_a_reused_verdict_id_on_another_decision_gives_a_new_decision_id() -> None:
    """A reviewer tool that reuses a verdict id: the second verdict answers another decision of the same
    event under the same policy, so its decision must not carry an id consumers already applied (they
    would drop it, and the listing would stay off the topic the worker's state says it is on)."""
    states = MemoryStates({0: {}})
    reviewed = _in_review(states, Catalogue())
    def reused(decision: str, offset: int) -> Msg:
        return Msg(b"L-1", verdict_body("L-1", decision, verdict_id="v-same"), 0, offset, VERDICTS)

    first = decider().decide_verdicts([reused(reviewed.decision_id, 0)], states.view)
    again = replace(reviewed, decision_id="another-decision-of-the-same-event")  # back in review, as after a lapse
    view = states.view([])
    view.put("L-1", 0, again)
    view.flush()
    second = decider().decide_verdicts([reused(again.decision_id, 1)], states.view)
    made = [r.decision for r, _ in first.outputs if r.decision is not None and r.decision.action == "upsert"]
    remade = [r.decision for r, _ in second.outputs if r.decision is not None and r.decision.action == "upsert"]
    assert len(made) == 1 and len(remade) == 1
    assert made[0].decision_id != remade[0].decision_id


def test_a_reviewer_may_change_their_mind_after_an_update_the_verdict_survived() -> None:
    """docs/contracts.md: a verdict may answer an earlier verdict; the decision a verdict kept through a
    stock update is the listing's latest, and answering it must move the listing too."""
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed = _in_review(states, catalogue)
    _apply(catalogue, decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0)], states.view))
    _apply(catalogue, decider().decide([listing_msg("L-1", 0, 1, stock=12, **UNCERTAIN)], states.view))
    kept = states.get("L-1", 0)
    assert kept is not None and kept.outcome is Outcome.APPROVED and kept.verdict is not None
    changed = decider().decide_verdicts([verdict_msg("L-1", kept.decision_id, 1, "rejected")], states.view)
    _apply(catalogue, changed)
    assert [r.error.code for r, _ in changed.outputs if r.error] == []
    assert catalogue.topics_of() == {"L-1": {"rejected"}}
    state = states.get("L-1", 0)
    assert state is not None and state.verdict is not None and state.verdict.since == reviewed.decided_at


def test_a_reject_verdict_lapses_under_a_policy_that_now_approves_with_a_code_the_reviewer_did_not_see() -> None:
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed, sent = in_review(states, listing_fields={"brand": "Tenun Ikat Sumba"})
    _apply(catalogue, sent)
    _apply(catalogue, decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0, "rejected")],
                                                 states.view))
    rejected = states.get("L-1", 0)
    assert rejected is not None and rejected.outcome is Outcome.REJECTED
    now = datetime(2026, 11, 5, tzinfo=UTC)
    same = reevaluate(rejected, _book(""), now)
    assert same is not None and same.records == []  # a policy with nothing new keeps the verdict
    exempt = "exemptions:\n  brands: [{value: Tenun Ikat Sumba}]\n"
    step = reevaluate(rejected, _book(exempt), now)
    assert step is not None and step.state is not None and step.state.verdict is None
    _apply(catalogue, step.records)
    assert catalogue.topics_of() == {"L-1": {"approved"}}
    decision = next(r.decision for r in step.records if r.output is Output.APPROVED)
    assert decision is not None and decision.reasons[0].code == "REVIEW_VERDICT_LAPSED"
    assert "BRAND_EXEMPT" in decision.reasons[0].message


def test_a_new_marketplace_lapses_a_verdict_and_verdicts_kept_before_it_was_read_still_hold() -> None:
    """The marketplace decides how the category path is read: a verdict answered it too. A verdict
    applied before the fingerprint covered it keeps its own fields (an upgrade lapses nothing)."""
    states, catalogue = MemoryStates({0: {}}), Catalogue()
    reviewed = _in_review(states, catalogue)
    _apply(catalogue, decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0)], states.view))
    moved = decider().decide([listing_msg("L-1", 0, 1, marketplace="shopee", **UNCERTAIN)], states.view)
    lapsed = moved.outputs[0][0].decision
    assert lapsed is not None and lapsed.reasons[0].code == "REVIEW_VERDICT_LAPSED"
    old = _approved_by_a_reviewer(0)
    assert old.verdict is not None
    data = orjson.loads(old.to_bytes())
    data["vd"] = data["vd"][:5]  # as a worker before fingerprint versions wrote it
    data["vd"][3] = fingerprint(old.listing, 1)
    before = ListingState.from_bytes(orjson.dumps(data))
    assert before.verdict is not None and before.verdict.fingerprint_version == 1
    assert reevaluate(before, PolicyBook.load("default"), datetime(2026, 11, 5, tzinfo=UTC), force=True) == \
        Step([], None)  # decided again, the verdict holds
