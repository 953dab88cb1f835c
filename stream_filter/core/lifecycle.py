"""The life of one listing across events and policy versions: pure functions, no Kafka.

Why: a decision is about a listing, not only about one event. The worker remembers the latest state
of every active listing (`ListingState`) so that
- an update that moves a listing to another outcome also withdraws it from the topic it was on
  (consumers of `listings.approved` must drop a listing that is now rejected);
- a deletion reaches the consumers of the topic the listing is on;
- a new live policy is applied to listings that are already live (`reevaluate`), not only to new
  events: a tightened rule takes effect on the whole catalogue.
Classification does not depend on the policy, so re-evaluation reuses the stored origin and
clusters and only applies the rules again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from stream_filter.core.contracts.decision import DecisionRecord, Outcome, PolicyRef, Reason, decision_id
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.listing_state import ListingState, Sent
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import day_of
from stream_filter.core.policy.model import ReasonText
from stream_filter.core.policy.rules import apply_policies, combined_ref
from stream_filter.core.route import Routed, decision_routed

_BASIS = "Policy {policy} is in force and applies to listings already live"
CHANGE_REASONS = {
    Outcome.REJECTED: ReasonText(code="POLICY_CHANGE_REVOKED", legal_basis=_BASIS,
                                 message="{before} under {old}, rejected under {policy}"),
    Outcome.APPROVED: ReasonText(code="POLICY_CHANGE_REINSTATED", legal_basis=_BASIS,
                                 message="{before} under {old}, approved under {policy}"),
    Outcome.REVIEW: ReasonText(code="POLICY_CHANGE_REVIEW", legal_basis=_BASIS,
                               message="{before} under {old}, review under {policy}"),
}
MOVED = ReasonText(code="LISTING_MOVED", legal_basis="The listing's outcome changed",
                   message="withdrawn from {before}: now {after} ({why})")


def withdrawal(state: ListingState, event_id: str, reason: Reason, now: datetime) -> Routed:
    """A removal record (action=remove) for the topic the listing is on now, so its consumers drop it."""
    record = DecisionRecord.built(
        decision_id=decision_id(state.listing_id, f"{event_id}#withdraw#{state.decision_id}", state.policy),
        listing_id=state.listing_id, event_id=event_id, outcome=state.outcome, action="remove",
        origin=state.origin, clusters=state.clusters, reasons=[reason], policy=state.policy, decided_at=now,
        listing=state.listing)
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
    records = [routed]
    if previous is not None and previous.outcome is not record.outcome:
        why = ",".join(r.code for r in record.reasons)
        moved = MOVED.reason(before=previous.outcome.value, after=record.outcome.value, why=why)
        records.append(withdrawal(previous, record.event_id, moved, record.decided_at))
    kept = earlier + tuple(Sent(offset, r.output, r.value or b"") for r in records[1:]) if offset is not None else ()
    return Step(records, ListingState.of(record, partition, offset, kept))


def policy_in_force(book: PolicyBook, now: datetime) -> PolicyRef:
    """The reference decisions made now carry."""
    return combined_ref(book.active(day_of(now)))


def reevaluate(state: ListingState, book: PolicyBook, now: datetime | None = None, force: bool = False) -> Step | None:
    """Decide an active listing again under the policy in force now. None: it was decided under that
    policy already. A step without records or state: decided again, the outcome stays (the state is
    left alone: writing a million unchanged states would cost more than deciding them again).
    `force`: decide it even under the same policy (a new day may change what the policy says)."""
    now = now or datetime.now(UTC)
    if not force and state.policy == policy_in_force(book, now):
        return None
    day = day_of(now)
    event = ListingEvent.model_validate(state.listing)
    outcome, reasons, ref = apply_policies(book.active(day), event, state.origin, state.clusters, day)
    if outcome is state.outcome:
        return Step([], None)
    fields = {"before": state.outcome.value, "old": f"{state.policy.id}@{state.policy.version}",
              "policy": f"{ref.id}@{ref.version}"}
    change = CHANGE_REASONS[outcome].reason(**fields)
    record = DecisionRecord.built(
        decision_id=decision_id(state.listing_id, f"{state.event_id}#{state.decision_id}", ref),
        listing_id=state.listing_id, event_id=state.event_id, outcome=outcome, action="upsert",
        origin=state.origin, clusters=state.clusters, reasons=[change, *reasons], policy=ref, decided_at=now,
        listing=state.listing)
    moved = MOVED.reason(before=state.outcome.value, after=outcome.value, why=change.code)
    gone = withdrawal(state, state.event_id, moved, now)
    # The latest batch's records go again first (the same ids: consumers drop them): should that batch's
    # decisions have been lost after its state was written, this pass may run before the replay, and a
    # crash before this pass's state would let the replay send them after this pass's withdrawal.
    records = [*state.last_batch(), decision_routed(record), gone]
    kept = (Sent(state.offset, gone.output, gone.value or b""),) if state.offset is not None else ()
    return Step(records, replace(state, outcome=outcome, policy=ref, decision_id=record.decision_id,
                                 reasons=tuple(record.reasons), decided_at=now, sent=kept))
