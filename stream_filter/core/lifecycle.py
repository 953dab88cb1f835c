"""The life of one listing across events and policy versions: pure functions, no Kafka.

Why: a decision is about a listing, not only about one event. The worker remembers the latest state
of every active listing (`ListingState`) so that
- an update that moves a listing to another outcome also withdraws it from the topic it was on
  (consumers of `listings.approved` must drop a listing that is now rejected);
- a deletion reaches the consumers of the topic the listing is on;
- a new live policy is applied to listings that are already live (`reevaluate`), not only to new
  events: a tightened rule takes effect on the whole catalogue.
Classification does not depend on the policy, so re-evaluation reuses the stored origin and
clusters and only applies the rules again, unless the classifier changed (`reevaluate`'s
`classifier`): then the stored event is read again, once per listing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from stream_filter.core.classify.classifier import Classifier
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.contracts.decision import DecisionRecord, Outcome, PolicyRef, Reason, decision_id
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.contracts.verdict import ReviewVerdict, VerdictRef
from stream_filter.core.listing_state import AppliedVerdict, ListingState, Sent
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import day_of
from stream_filter.core.policy.model import ReasonText
from stream_filter.core.policy.rules import apply_policies, combined_ref
from stream_filter.core.review import (
    FINGERPRINT_VERSION,
    fingerprint,
    lapse,
    lapsed_reason,
    policy_reasons,
    verdict_reason,
)
from stream_filter.core.route import Routed, decision_routed

_BASIS = "The policy in force applies to listings already live"  # the message names the versions
CHANGE_REASONS = {
    Outcome.REJECTED: ReasonText(code="POLICY_CHANGE_REVOKED", legal_basis=_BASIS,
                                 message="{before} under {old}, rejected under {policy}"),
    Outcome.APPROVED: ReasonText(code="POLICY_CHANGE_REINSTATED", legal_basis=_BASIS,
                                 message="{before} under {old}, approved under {policy}"),
    Outcome.REVIEW: ReasonText(code="POLICY_CHANGE_REVIEW", legal_basis=_BASIS,
                               message="{before} under {old}, review under {policy}"),
}
_READ = "The classifier in use read the listing again, under the same policy"
CLASSIFIER_REASONS = {
    Outcome.REJECTED: ReasonText(code="CLASSIFIER_CHANGE_REVOKED", legal_basis=_READ,
                                 message="{before} as classifier {old} read it, rejected as {after} reads it"),
    Outcome.APPROVED: ReasonText(code="CLASSIFIER_CHANGE_REINSTATED", legal_basis=_READ,
                                 message="{before} as classifier {old} read it, approved as {after} reads it"),
    Outcome.REVIEW: ReasonText(code="CLASSIFIER_CHANGE_REVIEW", legal_basis=_READ,
                               message="{before} as classifier {old} read it, review as {after} reads it"),
}
MOVED = ReasonText(code="LISTING_MOVED", legal_basis="The listing's outcome changed",
                   message="withdrawn from {before}: now {after} ({why})")


def withdrawal(state: ListingState, event_id: str, reason: Reason, now: datetime) -> Routed:
    """A removal record (action=remove) for the topic the listing is on now, so its consumers drop it."""
    record = DecisionRecord.built(
        decision_id=decision_id(state.listing_id, f"{event_id}#withdraw#{state.decision_id}", state.policy),
        listing_id=state.listing_id, event_id=event_id, outcome=state.outcome, action="remove",
        origin=state.origin, clusters=state.clusters, reasons=[reason], policy=state.policy, decided_at=now,
        listing=state.listing, verdict=None, classifier=state.classifier)
    return decision_routed(record)


@dataclass(frozen=True)
class Step:
    """What one decided event does to a listing: the records to send and the state to keep."""

    records: list[Routed]
    state: ListingState | None  # None with `remove`: forget the listing
    remove: bool = False
    replay: bool = False  # the state had applied the event already: records re-sent, state unchanged


def advance(routed: Routed, previous: ListingState | None, partition: int, offset: int | None = None,
            earlier: tuple[Sent, ...] = ()) -> Step:
    """Fold one routed event into the listing's state. Dead letters change nothing.

    `offset`: the event's input offset (None offline: nothing is a replay); an event the state has
    applied already sends what it sent the first time (`ListingState.replay`). `earlier`: what this
    listing's earlier events of the same batch sent, kept in the new state for the same reason."""
    record = routed.decision
    if record is None:
        return Step([routed], previous)
    if previous is not None and offset is not None and previous.applied(partition, offset):
        return Step(previous.replay(offset), previous, replay=True)
    if record.action == "remove":
        if previous is None:  # unknown listing: the removal goes to the approved topic, as decided
            return Step([routed], None, remove=True)
        return Step([withdrawal(previous, record.event_id, record.reasons[0], record.decided_at)], None, remove=True)
    verdict = None
    if previous is not None and previous.verdict is not None:
        routed, verdict = under_verdict(routed, previous.verdict)
        record = routed.decision or record
    records = [routed]
    if previous is not None and previous.outcome is not record.outcome:
        why = ",".join(r.code for r in record.reasons)
        moved = MOVED.reason(before=previous.outcome.value, after=record.outcome.value, why=why)
        records.append(withdrawal(previous, record.event_id, moved, record.decided_at))
    kept = earlier + tuple(Sent(offset, r.output, r.value or b"") for r in records[1:]) if offset is not None else ()
    return Step(records, ListingState.of(record, partition, offset, kept, previous, verdict))


def under_verdict(routed: Routed, verdict: AppliedVerdict) -> tuple[Routed, AppliedVerdict | None]:
    """An event's decision for a listing with a verdict in force: the verdict's outcome while it holds
    (the policy's reasons kept beside it), else the policy's, saying why the verdict lapsed."""
    record = routed.decision
    assert record is not None
    why = lapse(verdict, record.listing, record.outcome, record.reasons, record.decided_at)
    if why is None:
        held = record.model_copy(update={"outcome": Outcome(verdict.ref.verdict.value), "verdict": verdict.ref,
                                         "reasons": [verdict_reason(verdict.ref), *record.reasons]})
        return decision_routed(held, decoded=routed.decoded), verdict
    lapsed = record.model_copy(update={"reasons": [lapsed_reason(verdict, why), *record.reasons]})
    return decision_routed(lapsed, decoded=routed.decoded), None


def apply_verdict(verdict: ReviewVerdict, state: ListingState | None, offset: int | None,
                  earlier: tuple[Sent, ...], now: datetime) -> Step | Failure:
    """A reviewer's verdict on the listing's latest decision: its outcome, the listing withdrawn from
    review, the verdict kept in the state. `offset`: the verdict's position on the verdict topic
    (the state's partition); `earlier`: what this batch's earlier verdicts of the listing sent."""
    if state is None:
        return Failure(ErrorCode.STALE_VERDICT, "the listing has no active decision here (deleted, never seen, or "
                       "the verdict was not keyed and partitioned like the listing's events)")
    if verdict.decision_id != state.decision_id:
        return Failure(ErrorCode.STALE_VERDICT, f"answers decision {verdict.decision_id}; the listing's latest is "
                       f"{state.decision_id} ({state.outcome.value})")
    if state.outcome is not Outcome.REVIEW and state.verdict is None:  # a verdict in force made or kept it
        return Failure(ErrorCode.VERDICT_NOT_FOR_REVIEW, f"answers a decision that is {state.outcome.value} by policy, "
                       "not one that sent the listing to review")
    if verdict.expires_at is not None and verdict.expires_at <= now:
        return Failure(ErrorCode.EXPIRED_VERDICT, f"expired at {verdict.expires_at.isoformat()} before it arrived")
    ref = VerdictRef(verdict_id=verdict.verdict_id, answers=verdict.decision_id, verdict=verdict.verdict,
                     reviewer_id=verdict.reviewer_id, reason_code=verdict.reason_code, note=verdict.note,
                     reviewed_at=verdict.reviewed_at, expires_at=verdict.expires_at)
    outcome = Outcome(verdict.verdict.value)
    record = DecisionRecord.built(
        # the decision it answers too: a verdict id reused on another decision of the event must not
        # give an id consumers already applied (they would drop it)
        decision_id=decision_id(state.listing_id,
                                f"{state.event_id}#verdict#{verdict.verdict_id}#{verdict.decision_id}", state.policy),
        listing_id=state.listing_id, event_id=state.event_id, outcome=outcome, action="upsert", origin=state.origin,
        clusters=state.clusters, reasons=[verdict_reason(ref), *policy_reasons(state.reasons)], policy=state.policy,
        decided_at=now, listing=state.listing, verdict=ref, classifier=state.classifier)
    records = [decision_routed(record)]
    if state.outcome is not outcome:
        moved = MOVED.reason(before=state.outcome.value, after=outcome.value, why=record.reasons[0].code)
        records.append(withdrawal(state, state.event_id, moved, now))
    answered = state.verdict  # a verdict on a verdict (made or kept by it): the review it answered
    applied = AppliedVerdict(ref, record.decision_id,
                             answered.seen if answered else tuple(r.code for r in policy_reasons(state.reasons)),
                             answered.fingerprint if answered else fingerprint(state.listing),
                             answered.since if answered else (state.decided_at or now),
                             answered.fingerprint_version if answered else FINGERPRINT_VERSION)
    kept = earlier + tuple(Sent(offset, r.output, r.value or b"", verdict=True) for r in records[1:]) \
        if offset is not None else ()
    return Step(records, replace(state, outcome=outcome, decision_id=record.decision_id, reasons=tuple(record.reasons),
                                 decided_at=now, sent=kept, verdict=applied, verdict_offset=offset,
                                 history=state.pushed()))


def replayed(verdict: ReviewVerdict, state: ListingState | None) -> Failure | None:
    """A verdict in force published again at another position (a retried publish, or someone replaying
    it): refused with its own code, so it is not mistaken for a reviewer's new answer."""
    applied = state.verdict if state is not None else None
    if applied is None or applied.ref.verdict_id != verdict.verdict_id or applied.ref.answers != verdict.decision_id:
        return None
    return Failure(ErrorCode.REPLAYED_VERDICT, f"verdict {verdict.verdict_id} was applied already (decision "
                   f"{applied.decision_id}); a reviewer who changed their mind publishes a new verdict")


def policy_in_force(book: PolicyBook, now: datetime) -> PolicyRef:
    """The reference decisions made now carry."""
    return combined_ref(book.active(day_of(now)))


def reevaluate(state: ListingState, book: PolicyBook, now: datetime | None = None, force: bool = False,
               classifier: Classifier | None = None) -> Step | None:
    """Decide an active listing again under the policy in force now. None: it was decided under that
    policy (and read by `classifier`) already. A step without records or state: decided again, the
    outcome stays (the state is left alone: writing a million unchanged states would cost more than
    deciding them again). `force`: decide it even under the same policy (a new day may change what
    the policy says). `classifier`: the one in use; a listing another classifier read is read again
    from its stored event, once: an unchanged outcome is noted in the state (`read_by`), not sent."""
    now = now or datetime.now(UTC)
    verdict = state.verdict
    expired = verdict is not None and verdict.ref.expires_at is not None and now >= verdict.ref.expires_at
    reread = classifier is not None and state.last_read != classifier.version
    if not force and not expired and not reread and state.policy.same(policy_in_force(book, now)):
        return None
    day = day_of(now)
    event = ListingEvent.model_validate(state.listing)
    origin, clusters, version = state.origin, state.clusters, state.classifier
    if classifier is not None and state.classifier != classifier.version:
        # decided by another classifier: whatever brings the listing here (a new reading, a policy, a
        # day), the rules apply to what the classifier in use reads. `read_by` only spares a pass the
        # reading; the stored clusters stay those of the decision that was sent.
        (origin, clusters), version = classifier.read(event), classifier.version
    outcome, reasons, ref = apply_policies(book.active(day), event, origin, clusters, day)
    head: list[Reason] = []
    if verdict is not None:  # a verdict that holds keeps the outcome; one that lapsed is said so
        why = lapse(verdict, state.listing, outcome, reasons, now)
        if why is None:
            return _read(state, version) if reread else Step([], None)
        head.append(lapsed_reason(verdict, why))
    elif outcome is state.outcome:
        return _read(state, version) if reread else Step([], None)
    if outcome is not state.outcome:
        head.append(_change_reason(state, outcome, ref, version))
    record = DecisionRecord.built(
        decision_id=decision_id(state.listing_id, f"{state.event_id}#{state.decision_id}", ref),
        listing_id=state.listing_id, event_id=state.event_id, outcome=outcome, action="upsert",
        origin=origin, clusters=clusters, reasons=[*head, *reasons], policy=ref, decided_at=now,
        listing=state.listing, verdict=None, classifier=version)
    # The latest batch's records go again first (the same ids: consumers drop them): should that batch's
    # decisions have been lost after its state was written, this pass may run before the replay, and a
    # crash before this pass's state would let the replay send them after this pass's withdrawal.
    records = [*state.last_batch(), decision_routed(record)]
    kept: tuple[Sent, ...] = ()
    if outcome is not state.outcome:
        moved = MOVED.reason(before=state.outcome.value, after=outcome.value, why=head[-1].code)
        gone = withdrawal(state, state.event_id, moved, now)
        records.append(gone)
        kept = (Sent(state.offset, gone.output, gone.value or b""),) if state.offset is not None else ()
    return Step(records, replace(state, outcome=outcome, policy=ref, decision_id=record.decision_id, origin=origin,
                                 clusters=clusters, reasons=tuple(record.reasons), decided_at=now, sent=kept,
                                 verdict=None, history=state.pushed(), classifier=version, read_by=""))


def _read(state: ListingState, version: str) -> Step:
    """Read again by another classifier, the outcome unchanged: nothing is sent, the state notes the
    reading so that the next pass does not read it again."""
    return Step([], replace(state, read_by=version))


def _change_reason(state: ListingState, outcome: Outcome, ref: PolicyRef, version: str) -> Reason:
    """Why the outcome changed: the policy, or (under the same policy) the classifier's new reading."""
    if not state.policy.same(ref) or version == state.classifier:
        old = f"{state.policy.id}@{state.policy.version}"
        return CHANGE_REASONS[outcome].reason(before=state.outcome.value, old=old, policy=f"{ref.id}@{ref.version}")
    return CLASSIFIER_REASONS[outcome].reason(before=state.outcome.value, old=state.classifier or "an earlier one",
                                              after=version)
