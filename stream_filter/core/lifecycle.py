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
from typing import Any

import orjson

from stream_filter.core.contracts.decision import (
    ClusterMatch,
    DecisionRecord,
    Origin,
    OriginClass,
    Outcome,
    PolicyRef,
    Reason,
    decision_id,
)
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import day_of
from stream_filter.core.policy.model import ReasonText
from stream_filter.core.policy.rules import apply_policies, combined_ref
from stream_filter.core.route import Output, Routed, decision_routed

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


@dataclass(frozen=True)
class ListingState:
    """What the worker remembers of one active listing: enough to decide it again under another policy."""

    listing_id: str
    partition: int  # the input partition it arrives on: a worker re-evaluates only what it owns
    event_id: str
    decision_id: str  # of the listing's last decision: ids of later ones derive from it, so a policy
    # that flips back and forth still gives each change its own id, and a replay the same one
    outcome: Outcome
    policy: PolicyRef
    origin: Origin
    clusters: list[ClusterMatch]
    listing: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps({"v": 1, "id": self.listing_id, "p": self.partition, "e": self.event_id,
                             "d": self.decision_id,
                             "o": self.outcome.value, "policy": [self.policy.id, self.policy.version],
                             "origin": self.origin.model_dump(mode="json"),
                             "clusters": [[c.cluster, c.confidence, c.evidence] for c in self.clusters],
                             "listing": self.listing})

    @classmethod
    def from_bytes(cls, data: bytes) -> ListingState:
        d = orjson.loads(data)
        return cls(listing_id=d["id"], partition=d["p"], event_id=d["e"], decision_id=d["d"],
                   outcome=Outcome(d["o"]),
                   policy=PolicyRef(id=d["policy"][0], version=d["policy"][1]),
                   # model_construct: the worker wrote this record from a validated Origin (hot path)
                   origin=Origin.model_construct(origin_class=OriginClass(d["origin"]["class"]),
                                                 confidence=d["origin"]["confidence"],
                                                 evidence=d["origin"]["evidence"]),
                   clusters=[ClusterMatch(c, conf, ev) for c, conf, ev in d["clusters"]], listing=d["listing"])

    @classmethod
    def of(cls, record: DecisionRecord, partition: int) -> ListingState:
        return cls(listing_id=record.listing_id, partition=partition, event_id=record.event_id,
                   decision_id=record.decision_id, outcome=record.outcome, policy=record.policy, origin=record.origin,
                   clusters=list(record.clusters), listing=record.listing)


def state_record(listing_id: str, partition: int, state: ListingState | None) -> Routed:
    """The changelog record of a listing's state (a tombstone for None), on the input's partition."""
    return Routed(Output.STATE, listing_id.encode(), state.to_bytes() if state is not None else None, [],
                  partition=partition)


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


def advance(routed: Routed, previous: ListingState | None, partition: int) -> Step:
    """Fold one routed event into the listing's state. Dead letters change nothing."""
    record = routed.decision
    if record is None:
        return Step([routed], previous)
    if record.action == "remove":
        if previous is None:  # unknown listing: the removal goes to the approved topic, as decided
            return Step([routed], None, remove=True)
        return Step([withdrawal(previous, record.event_id, record.reasons[0], record.decided_at)], None, remove=True)
    records = [routed]
    if previous is not None and previous.outcome is not record.outcome:
        why = ",".join(r.code for r in record.reasons)
        moved = MOVED.reason(before=previous.outcome.value, after=record.outcome.value, why=why)
        records.append(withdrawal(previous, record.event_id, moved, record.decided_at))
    return Step(records, ListingState.of(record, partition))


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
    records = [decision_routed(record), withdrawal(state, state.event_id, moved, now)]
    return Step(records, replace(state, outcome=outcome, policy=ref, decision_id=record.decision_id))
