"""What the worker remembers of one active listing, and what its latest batch sent.

Why the records sent: the state is written (and acknowledged) before a batch's decisions go out,
so a state that reached the changelog marks how far the listing was decided. A replay of an event
the state has already applied (its input offset at or before the state's) must then send exactly
what was sent the first time, with the same ids, whatever the policy or the day is now: the
latest decision is rebuilt from the state's own fields, and every other record of the listing's
latest batch (withdrawals, earlier events of that batch) is kept as it was sent. Events of earlier
batches send nothing: their decisions were acknowledged before this state was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel

from stream_filter.core.contracts.decision import (
    ClusterMatch,
    DecisionRecord,
    Origin,
    OriginClass,
    Outcome,
    PolicyRef,
    Reason,
)
from stream_filter.core.contracts.trusted import trusted
from stream_filter.core.contracts.verdict import VerdictRef
from stream_filter.core.route import Output, Routed, decision_headers, decision_routed

M = TypeVar("M", bound=BaseModel)


class Sent(NamedTuple):
    """A record sent for a listing's event (or verdict): kept so that a replay of it sends it again."""

    offset: int
    output: Output
    value: bytes
    verdict: bool = False  # sent for the verdict at `offset` of the verdict topic, not the input's


@dataclass(frozen=True)
class AppliedVerdict:
    """A verdict in force on the listing, and what it answered (`core/review.py` decides whether it holds)."""

    ref: VerdictRef
    decision_id: str  # the decision the verdict made
    seen: tuple[str, ...]  # the reason codes of the decision the reviewer answered
    fingerprint: str  # the listing content the reviewer saw (the fields a decision reads)
    since: datetime  # when the listing went to review: time in review ends at the verdict
    fingerprint_version: int = 2  # which fields `fingerprint` covers (core/review.py: FINGERPRINT_FIELDS)

    def to_json(self) -> list[Any]:
        return [self.ref.model_dump(mode="json"), self.decision_id, list(self.seen), self.fingerprint,
                self.since.isoformat(), self.fingerprint_version]

    @classmethod
    def from_json(cls, data: list[Any]) -> AppliedVerdict:
        ref, decision, seen, fingerprint, since, *version = data  # states written before versions: 1
        return cls(VerdictRef.model_validate(ref), decision, tuple(seen), fingerprint, datetime.fromisoformat(since),
                   version[0] if version else 1)


class Past(NamedTuple):
    """An earlier decision of the listing, in brief (the lookup shows the last few)."""

    decision_id: str
    outcome: str
    reason_codes: tuple[str, ...]
    policy: str  # id@version
    decided_at: str | None


HISTORY = 4  # earlier decisions kept per listing besides the latest


@dataclass(frozen=True)
class ListingState:
    """Enough to decide the listing again under another policy, and to replay its latest batch."""

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
    offset: int | None = None  # input offset of the latest event folded in; None: nothing to replay
    reasons: tuple[Reason, ...] = ()
    decided_at: datetime | None = None
    sent: tuple[Sent, ...] = ()  # the latest batch's other records for this listing
    verdict: AppliedVerdict | None = None  # a review verdict in force
    verdict_offset: int | None = None  # verdict-topic offset (same partition) of the latest verdict applied
    history: tuple[Past, ...] = ()  # earlier decisions, most recent first
    classifier: str = ""  # the classifier version of the latest decision ("": made before versions were kept)
    read_by: str = ""  # a later classifier that read the listing again and kept the outcome ("": none did):
    # the latest decision stays as it was sent, and that classifier does not read the listing again

    @property
    def last_read(self) -> str:
        """The classifier whose reading the listing's outcome rests on now."""
        return self.read_by or self.classifier

    def to_bytes(self) -> bytes:
        data = {"v": 2, "id": self.listing_id, "p": self.partition, "e": self.event_id,
                "d": self.decision_id, "o": self.outcome.value,
                "policy": [self.policy.id, self.policy.version, self.policy.digest],
                "origin": {"class": self.origin.origin_class.value, "confidence": self.origin.confidence,
                           "evidence": self.origin.evidence},  # model_dump(mode="json"), without its cost
                "clusters": [[c.cluster, c.confidence, c.evidence] for c in self.clusters],
                "listing": self.listing, "off": self.offset,
                "rs": [[r.code, r.legal_basis, r.message] for r in self.reasons],
                "at": self.decided_at.isoformat() if self.decided_at else None,
                "sent": [[s.offset, s.output.value, s.value.decode(), *([1] if s.verdict else [])] for s in self.sent]}
        if self.verdict is not None:  # the review fields only when set: most listings never have them
            data["vd"] = self.verdict.to_json()
        if self.verdict_offset is not None:
            data["voff"] = self.verdict_offset
        if self.history:
            data["h"] = [list(p) for p in self.history]
        if self.classifier:
            data["cl"] = self.classifier
        if self.read_by:
            data["rb"] = self.read_by
        return orjson.dumps(data)

    @classmethod
    def from_bytes(cls, data: bytes) -> ListingState:
        """Version 1 states (before replays were exact) read with nothing to replay.

        Built without the dataclass's `__init__` (a frozen one sets each field through
        `object.__setattr__`), and with the policy, origin and reasons shared between states that hold
        the same ones: a pass reads every active listing, and they repeat a few policies and texts.
        The values were validated when the worker wrote the record."""
        d = orjson.loads(data)
        policy = d["policy"]
        origin = d["origin"]
        return cls.made(
            listing_id=d["id"], partition=d["p"], event_id=d["e"], decision_id=d["d"], outcome=Outcome(d["o"]),
            policy=_shared(PolicyRef, id=policy[0], version=policy[1], digest=policy[2] if len(policy) > 2 else ""),
            origin=_shared(Origin, origin_class=OriginClass(origin["class"]), confidence=origin["confidence"],
                           evidence=tuple(origin["evidence"])),
            clusters=[ClusterMatch(c, conf, ev) for c, conf, ev in d["clusters"]], listing=d["listing"],
            offset=d.get("off"),
            reasons=tuple(_shared(Reason, code=c, legal_basis=b, message=m) for c, b, m in d.get("rs", ())),
            decided_at=datetime.fromisoformat(d["at"]) if d.get("at") else None,
            sent=tuple(Sent(s[0], Output(s[1]), s[2].encode(), len(s) > 3) for s in d.get("sent", ())),
            verdict=AppliedVerdict.from_json(d["vd"]) if d.get("vd") else None,
            verdict_offset=d.get("voff"),
            history=tuple(Past(i, o, tuple(c), p, at) for i, o, c, p, at in d.get("h", ())),
            classifier=d.get("cl", ""), read_by=d.get("rb", ""))

    @classmethod
    def of(cls, record: DecisionRecord, partition: int, offset: int | None = None,
           sent: tuple[Sent, ...] = (), previous: ListingState | None = None,
           verdict: AppliedVerdict | None = None) -> ListingState:
        """The state after `record`; `previous` (the state before) gives the verdict offset and the history."""
        return cls.made(listing_id=record.listing_id, partition=partition, event_id=record.event_id,
                        decision_id=record.decision_id, outcome=record.outcome, policy=record.policy,
                        origin=record.origin, clusters=list(record.clusters), listing=record.listing, offset=offset,
                        reasons=tuple(record.reasons), decided_at=record.decided_at, sent=sent, verdict=verdict,
                        verdict_offset=previous.verdict_offset if previous else None,
                        history=previous.pushed() if previous else (), classifier=record.classifier, read_by="")

    @classmethod
    def made(cls, **fields: Any) -> ListingState:
        """`cls(**fields)` with every field given, without the frozen dataclass's per-field
        `object.__setattr__` (the hot path makes a state per event and reads one per listing)."""
        state = object.__new__(cls)
        state.__dict__.update(fields)
        return state

    def pushed(self) -> tuple[Past, ...]:
        """The history once the latest decision is replaced by another."""
        codes = tuple(r.code for r in self.reasons)
        past = Past(self.decision_id, self.outcome.value, codes, f"{self.policy.id}@{self.policy.version}",
                    self.decided_at.isoformat() if self.decided_at else None)
        return (past, *self.history)[:HISTORY]

    @property
    def by_verdict(self) -> bool:
        """Whether the latest decision is the one a verdict made (not an event's decision it kept)."""
        return self.verdict is not None and self.verdict.decision_id == self.decision_id

    def applied(self, partition: int, offset: int | None) -> bool:
        """Whether the event at this input position was already folded into the state (a replay)."""
        return offset is not None and self.offset is not None and partition == self.partition and offset <= self.offset

    def verdict_applied(self, partition: int, offset: int | None) -> bool:
        """Whether the verdict at this verdict-topic position was already applied (a replay)."""
        return (offset is not None and self.verdict_offset is not None and partition == self.partition
                and offset <= self.verdict_offset)

    def latest(self) -> Routed:
        """The listing's latest decision, as it was sent: rebuilt from the state's own fields."""
        kept = self.verdict.ref if self.verdict is not None else None  # a verdict in force made or kept it
        return decision_routed(DecisionRecord.built(
            decision_id=self.decision_id, listing_id=self.listing_id, event_id=self.event_id, outcome=self.outcome,
            action="upsert", origin=self.origin, clusters=self.clusters, reasons=list(self.reasons),
            policy=self.policy, decided_at=self.decided_at, listing=self.listing, verdict=kept,
            classifier=self.classifier))

    def last_batch(self) -> list[Routed]:
        """Every record the listing's latest batch sent, in order (what a re-evaluation sends again).
        A batch reads one topic, events or verdicts: the latest decision tells which."""
        verdicts = self.by_verdict
        position = self.verdict_offset if verdicts else self.offset
        earlier = [resent(s) for s in self.sent if s.verdict == verdicts and s.offset != position]
        return earlier + (self.replay(position, verdicts) if position is not None else [])

    def replay(self, offset: int, verdict: bool = False) -> list[Routed]:
        """What the first decision of the event (or verdict) at `offset` sent; nothing for an earlier batch's."""
        records = [resent(s) for s in self.sent if s.offset == offset and s.verdict == verdict]
        latest_at = self.verdict_offset if self.by_verdict else self.offset
        if offset == latest_at and verdict == self.by_verdict and self.decided_at is not None:
            records.insert(0, self.latest())
        return records


SHARED_MODELS = 4096  # distinct policies, origins and reasons kept: a bound, not a figure to tune
_models: dict[tuple[Any, ...], Any] = {}


def _shared(cls: type[M], **values: Any) -> M:
    """One frozen model per distinct value, built with `trusted` the first time. Sequences are given
    as tuples (hashable); the model gets them as lists, as validation would give."""
    key = (cls, *values.values())
    model = _models.get(key)
    if model is None:
        if len(_models) >= SHARED_MODELS:
            _models.clear()
        model = _models[key] = trusted(cls, **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()})
    return model


def resent(sent: Sent) -> Routed:
    """A kept record, byte for byte, with the headers its decision gives."""
    record = DecisionRecord.model_validate_json(sent.value)
    return Routed(sent.output, record.listing_id.encode(), sent.value, decision_headers(record), record)


def state_record(listing_id: str, partition: int, state: ListingState | None) -> Routed:
    """The changelog record of a listing's state (a tombstone for None), on the input's partition."""
    return Routed(Output.STATE, listing_id.encode(), state.to_bytes() if state is not None else None, [],
                  partition=partition)
