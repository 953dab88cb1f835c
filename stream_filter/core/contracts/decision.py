"""DecisionRecord v1: what the filter publishes to `listings.approved|rejected|review`.

Every record says why (reason codes with legal basis, the evidence of each classifier) and under
which policy version, so a seller notice or an audit can be answered from the record alone.
`decision_id` is a UUIDv5 of listing id, event id and policy version: a replay after a crash gives
the same id, so consumers can drop duplicates by it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from stream_filter.core.contracts.trusted import trusted
from stream_filter.core.contracts.verdict import VerdictRef

DECISION_NAMESPACE = uuid.UUID("6f1c52d4-3a8e-5b7a-9c1e-2d4f6a8b0c13")


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW = "review"


class OriginClass(StrEnum):
    DOMESTIC = "domestic"
    DOMESTIC_IMPORTED = "domestic_imported"
    CROSS_BORDER = "cross_border"
    CROSS_BORDER_LOCAL_STOCK = "cross_border_local_stock"
    UNKNOWN = "unknown"


CROSS_BORDER_CLASSES = (OriginClass.CROSS_BORDER, OriginClass.CROSS_BORDER_LOCAL_STOCK)  # sold from abroad


class Origin(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    origin_class: OriginClass = Field(alias="class")
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(default_factory=list)


# A match at this confidence or under does not name the product (no HS code, category or head noun
# does): the classifier caps weak evidence here, and the rules never reject on it, whatever a pack's
# review.min_cluster_confidence says (`policy/rules.py`). Kept with the match: it travels in decision
# records and listing states, so a re-evaluation reads the same thing from the stored match.
WEAK_CONFIDENCE = 0.45


@dataclass(frozen=True, slots=True)
class ClusterMatch:
    """A product cluster the listing matched, with the classifier's confidence and its evidence."""

    # A plain dataclass, not a model: the classifier builds one per match on the hot path, where a
    # model's validation would cost far more; pydantic still validates it when a DecisionRecord is parsed.

    cluster: str
    confidence: Annotated[float, Field(ge=0, le=1)]
    evidence: list[str] = field(default_factory=list)


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    legal_basis: str
    message: str


class PolicyRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: str
    digest: str = Field(default="", description="Hash of the policy's content: the same id and version with "
                        "other rules is another policy. Empty in decisions made before digests were kept.")

    def same(self, other: PolicyRef) -> bool:
        """Equality without pydantic's generic `__eq__` (asked for every listing of a pass)."""
        return self is other or (self.id == other.id and self.version == other.version
                                 and self.digest == other.digest)


class DecisionRecord(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    schema_version: int = 1
    decision_id: str
    listing_id: str
    event_id: str
    outcome: Outcome
    action: Literal["upsert", "remove"] = Field(
        default="upsert", description="remove: the listing was deleted; consumers drop it from the catalogue.")
    origin: Origin
    clusters: list[ClusterMatch] = Field(default_factory=list)
    reasons: list[Reason] = Field(default_factory=list)
    policy: PolicyRef
    decided_at: datetime
    listing: dict[str, Any] = Field(description="The input event as received (extra fields kept).")
    verdict: VerdictRef | None = Field(default=None, description="The review verdict that made or kept this "
                                       "outcome (reasons REVIEW_VERDICT_*); null: decided by the policy alone.")
    classifier: str = Field(default="", description="The classifier that read the listing: its model version and "
                            "a digest of its lexicon and taxonomy files ('<model>+<12 hex>'). Empty for a deletion "
                            "(not classified) and in decisions made before classifier versions were kept.")

    @classmethod
    def built(cls, **fields: Any) -> DecisionRecord:
        """A record from parts that were validated or built from validated data: the one place the
        worker skips validation (validating again would cost about a third of a decision). Every
        field given, in order, is `trusted`'s quicker case: the verdict and the classifier (the last two
        fields) are put last, filled in when not given."""
        classifier = fields.pop("classifier", "")
        fields.setdefault("verdict", None)
        fields["classifier"] = classifier
        return trusted(cls, schema_version=1, **fields)


def decision_json(record: DecisionRecord) -> bytes:
    """The record's wire bytes: the JSON pydantic writes (field order, aliases, `Z` times), built as
    plain data and written by orjson, a third cheaper than `model_dump_json` on the hot path.
    tests/unit/core/test_decision_json.py holds it to pydantic's output."""
    if record.verdict is not None or record.decided_at.utcoffset():  # rare: pydantic writes them
        return record.model_dump_json(by_alias=True).encode()
    origin, policy = record.origin, record.policy
    return orjson.dumps({
        "schema_version": record.schema_version, "decision_id": record.decision_id,
        "listing_id": record.listing_id, "event_id": record.event_id, "outcome": record.outcome,
        "action": record.action,
        "origin": {"class": origin.origin_class, "confidence": origin.confidence, "evidence": origin.evidence},
        "clusters": [{"cluster": c.cluster, "confidence": c.confidence, "evidence": c.evidence}
                     for c in record.clusters],
        "reasons": [{"code": r.code, "legal_basis": r.legal_basis, "message": r.message} for r in record.reasons],
        "policy": {"id": policy.id, "version": policy.version, "digest": policy.digest},
        "decided_at": record.decided_at, "listing": record.listing, "verdict": None,
        "classifier": record.classifier}, option=orjson.OPT_UTC_Z)


def decision_id(listing_id: str, event_id: str, policy: PolicyRef) -> str:
    """Deterministic id: same listing, event and policy (id, version and content) give the same id on
    every replay; other content under the same version gives another id. `uuid.uuid5`'s value,
    computed without building a UUID object (tests/unit/core/test_decision_id.py compares them)."""
    content = f"#{policy.digest}" if policy.digest else ""
    name = f"{listing_id}\x1f{event_id}\x1f{policy.id}@{policy.version}{content}"
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES = DECISION_NAMESPACE.bytes
