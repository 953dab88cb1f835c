"""One record in, one routed record out: the whole decision, with no Kafka in sight.

The worker and the offline `classify` command both call `route()`, so the same bytes give the same
decision everywhere. A `Routed` says which output (approved, rejected, review, dead-letter) gets
which key, value and headers; sending it is the edge's job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, NamedTuple

from stream_filter.core.classify.classifier import Classifier, default_classifier
from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.contracts.decision import (
    ClusterMatch,
    DecisionRecord,
    Origin,
    OriginClass,
    Outcome,
    decision_id,
    decision_json,
)
from stream_filter.core.contracts.listing import EventType
from stream_filter.core.decode import Decoded, decode_listing
from stream_filter.core.dedupe import Position, RecentEvents
from stream_filter.core.framing import PLAIN, Framing
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import Clock, policy_day
from stream_filter.core.policy.rules import apply_policies


class Output(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW = "review"
    DEAD_LETTER = "dead_letter"
    SHADOW_DIFF = "shadow_diff"
    STATE = "state"  # the listing-state changelog (lifecycle.py), not a consumer-facing topic


class Routed(NamedTuple):
    """One output record. A named tuple, immutable like a frozen dataclass but built in C: a decision
    makes one or two, and a frozen dataclass of eight fields cost about a microsecond each."""

    output: Output
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    decision: DecisionRecord | None = None
    error: Failure | None = None
    decoded: Decoded | None = None  # kept so a second policy (shadow) can decide without decoding again
    partition: int | None = None  # None: by key; the state changelog is co-partitioned with the input


def decide(decoded: Decoded, book: PolicyBook, now: datetime | None = None, clock: Clock = "event",
           classifier: Classifier | None = None) -> DecisionRecord:
    """`classifier`: None for the configured one (`classifier.default_classifier`)."""
    event = decoded.event
    now = now or datetime.now(UTC)
    day = policy_day(event.occurred_at, now, clock)
    policies = book.active(day)
    action: Literal["upsert", "remove"] = "upsert"
    version = ""  # a deletion is not classified
    clusters: list[ClusterMatch] = []
    if event.event_type is EventType.DELETED:
        origin = Origin(origin_class=OriginClass.UNKNOWN, confidence=0.0, evidence=["deletion: not classified"])
        removed = (policies or book.policies)[0]
        outcome, reasons, ref = Outcome.APPROVED, [removed.removed.reason()], removed.ref
        action = "remove"
    else:
        classifier = classifier or default_classifier()
        origin, clusters = classifier.read(event)
        version = classifier.version
        outcome, reasons, ref = apply_policies(policies, event, origin, clusters, day)
    return DecisionRecord.built(
        decision_id=decision_id(event.listing_id, event.event_id, ref),
        listing_id=event.listing_id, event_id=event.event_id, outcome=outcome, action=action, origin=origin,
        clusters=clusters, reasons=reasons, policy=ref, decided_at=now, listing=decoded.raw, verdict=None,
        classifier=version)


def decision_headers(record: DecisionRecord) -> list[tuple[str, bytes]]:
    return [("outcome", record.outcome.value.encode()), ("policy-id", record.policy.id.encode()),
            ("policy-version", record.policy.version.encode()),
            ("reason-codes", ",".join(r.code for r in record.reasons).encode()),
            ("decision-id", record.decision_id.encode()), ("classifier", record.classifier.encode())]


def decision_routed(record: DecisionRecord, output: Output | None = None, decoded: Decoded | None = None) -> Routed:
    """A decision as an output record, on its outcome's topic unless `output` says otherwise."""
    body = decision_json(record)
    return Routed(output or Output(record.outcome.value), record.listing_id.encode(), body, decision_headers(record),
                  record, decoded=decoded)


def dead_letter(key: bytes | None, value: bytes | None, error: Failure,
                source: Position | None = None) -> Routed:
    """The original bytes untouched; what went wrong and where it came from in headers."""
    headers = [("error-code", error.code.value.encode()), ("error-message", error.message[:1000].encode())]
    if source is not None:
        topic, partition, offset = source
        headers += [("source-topic", topic.encode()), ("source-partition", str(partition).encode())]
        if offset is not None:
            headers.append(("source-offset", str(offset).encode()))
    return Routed(Output.DEAD_LETTER, key, value, headers, error=error)


def route(key: bytes | None, value: bytes | None, book: PolicyBook, *, max_value_bytes: int = 1_048_576,
          require_key: bool = True, source: Position | None = None,
          now: datetime | None = None, clock: Clock = "event", max_age: timedelta | None = None,
          recent: RecentEvents | None = None, classifier: Classifier | None = None,
          framing: Framing = PLAIN) -> Routed:
    """Decide one record. Never raises: any failure becomes a dead-letter record with its reason.

    `max_age`: events older than this (occurred_at to now) are dead-lettered `EVENT_TOO_OLD`.
    `recent`: the worker's memory of event ids; a re-published event is `DUPLICATE_EVENT`.
    `classifier`: None for the configured one. `framing`: schema-registry input (core/framing.py).
    """
    try:
        decoded = decode_listing(key, value, max_value_bytes=max_value_bytes, require_key=require_key,
                                 framing=framing)
        if isinstance(decoded, Failure):
            return dead_letter(key, value, decoded, source)
        now = now or datetime.now(UTC)
        event = decoded.event
        if max_age is not None and now - event.occurred_at > max_age:
            error = Failure(ErrorCode.EVENT_TOO_OLD, f"occurred_at {event.occurred_at.isoformat()} is older "
                                f"than the {max_age.total_seconds():.0f} s horizon")
            return dead_letter(key, value, error, source)
        if recent is not None and (earlier := recent.duplicate_of(event.event_id, source)) is not None:
            error = Failure(ErrorCode.DUPLICATE_EVENT, f"event_id already seen at {earlier[0]}/{earlier[1]}"
                                f"@{earlier[2]}")
            return dead_letter(key, value, error, source)
        return decision_routed(decide(decoded, book, now, clock, classifier), decoded=decoded)
    except Exception as exc:  # noqa: BLE001 - a bug on one event must not stop the stream; it is dead-lettered
        return dead_letter(key, value, Failure(ErrorCode.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}"), source)
