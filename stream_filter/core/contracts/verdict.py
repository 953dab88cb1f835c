"""ReviewVerdict v1: a reviewer's answer to a decision that sent a listing to review.

Published to `listings.review-verdicts`, keyed by listing id and co-partitioned with the input, so
the worker that owns the listing applies it in order with the listing's events. A verdict names the
decision it answers: one that is no longer the listing's latest is not applied (dead letter
`STALE_VERDICT`), so a verdict never overrules what the reviewer did not see.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Ident = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewVerdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    verdict_id: Ident = Field(description="Unique per verdict: the decision it makes derives its id from it.")
    listing_id: Ident = Field(description="Equals the record key.")
    decision_id: Ident = Field(description="The decision answered: the listing's latest, on the review topic.")
    verdict: Verdict
    reviewer_id: Ident
    reason_code: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,63}$")] = Field(
        description="The reviewer's reason, from the review team's own list.")
    note: Annotated[str, StringConstraints(max_length=2000)] = ""
    reviewed_at: AwareDatetime
    expires_at: AwareDatetime | None = Field(
        default=None, description="After this the listing is decided again as usual (and may go back to review).")
    signature: str | None = Field(
        default=None, description="The reviewer's Ed25519 signature (base64) of the verdict's other fields and the "
        "deployment (core/verdict_auth.py: signed_bytes). Required by workers given reviewer keys.")


class VerdictRef(BaseModel):
    """What a decision made or kept by a verdict says of it (DecisionRecord.verdict)."""

    model_config = ConfigDict(frozen=True)

    verdict_id: str
    answers: str = Field(description="The decision id the reviewer answered.")
    verdict: Verdict
    reviewer_id: str
    reason_code: str
    note: str = ""
    reviewed_at: AwareDatetime
    expires_at: AwareDatetime | None = None
