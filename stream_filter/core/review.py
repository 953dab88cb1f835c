"""Review verdicts: reading one, and the rules for how long it holds.

Why these rules: a verdict answers the question that sent the listing to review, and nothing else.
It holds across restarts, replays, re-evaluations and updates that do not touch what a decision
reads, and lapses when the listing's content changes in a way that matters (`DECISION_FIELDS`),
when it expires, or when a policy raises a reason code the reviewer did not see; the listing is
then decided again as usual. Reasons are compared by code: a message may carry the day or an
exchange rate, which must not undo a verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.contracts.decision import Outcome, Reason
from stream_filter.core.contracts.verdict import ReviewVerdict, VerdictRef
from stream_filter.core.decode import key_problem
from stream_filter.core.listing_state import AppliedVerdict
from stream_filter.core.policy.model import ReasonText

# What a decision reads of a listing (title, category, origin fields, price, and the marketplace its
# category path is read in): other fields (stock, images, extras) may change under a verdict.
DECISION_FIELDS = ("title", "description", "category_path", "hs_code", "brand", "price", "units_per_listing",
                   "seller", "ship_from", "made_in", "fulfilment", "marketplace")
# Verdicts applied before the marketplace was read keep their fingerprint's fields, or every one of
# them would lapse at the next pass after an upgrade.
FINGERPRINT_FIELDS = {1: DECISION_FIELDS[:-1], 2: DECISION_FIELDS}
FINGERPRINT_VERSION = 2
_BASIS = "A reviewer decided the listing after the policy sent it to review"
VERDICT_REASONS = {
    Outcome.APPROVED: ReasonText(code="REVIEW_VERDICT_APPROVED", legal_basis=_BASIS,
                                 message="approved by {reviewer} ({reason_code}){note}"),
    Outcome.REJECTED: ReasonText(code="REVIEW_VERDICT_REJECTED", legal_basis=_BASIS,
                                 message="rejected by {reviewer} ({reason_code}){note}"),
}
LAPSED = ReasonText(code="REVIEW_VERDICT_LAPSED", legal_basis="A review verdict holds only for what the reviewer saw",
                    message="the verdict of {reviewer} no longer holds: {why}")
MAX_VERDICT_BYTES = 16_384


def fingerprint(listing: dict[str, Any], version: int = FINGERPRINT_VERSION) -> str:
    """A digest of the listing content a decision reads (as that fingerprint version read it)."""
    content = orjson.dumps({f: listing.get(f) for f in FINGERPRINT_FIELDS[version]}, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(content, digest_size=12).hexdigest()


def verdict_reason(ref: VerdictRef) -> Reason:
    note = f": {ref.note}" if ref.note else ""
    text = VERDICT_REASONS[Outcome(ref.verdict.value)]
    return text.reason(reviewer=ref.reviewer_id, reason_code=ref.reason_code, note=note)


def policy_reasons(reasons: Iterable[Reason]) -> list[Reason]:
    """The reasons a policy gave, without the ones verdicts add."""
    return [r for r in reasons if not r.code.startswith("REVIEW_VERDICT_")]


def lapse(verdict: AppliedVerdict, listing: dict[str, Any], outcome: Outcome, reasons: Iterable[Reason],
          now: datetime) -> str | None:
    """Why the verdict no longer holds for a listing the policy now decides `outcome` for `reasons`;
    None: it holds."""
    expires = verdict.ref.expires_at
    if expires is not None and now >= expires:
        return f"it expired at {expires.isoformat()}"
    if fingerprint(listing, verdict.fingerprint_version) != verdict.fingerprint:
        return "the listing's content changed (title, category, marketplace, origin or price)"
    if outcome is not Outcome.APPROVED or verdict.ref.verdict.value != Outcome.APPROVED.value:
        # a policy that now approves what a reviewer approved needs nothing of them; any other new code does
        new = sorted({r.code for r in policy_reasons(reasons)} - set(verdict.seen))
        if new:
            return f"the policy now gives {', '.join(new)}"
    return None


def lapsed_reason(verdict: AppliedVerdict, why: str) -> Reason:
    return LAPSED.reason(reviewer=verdict.ref.reviewer_id, why=why)


def decode_verdict(key: bytes | None, value: bytes | None) -> ReviewVerdict | Failure:
    """Validate one verdict record (the dead-letter codes of listings, where they mean the same)."""
    if not value:
        return Failure(ErrorCode.NULL_VALUE, "verdict record value is null or empty")
    if len(value) > MAX_VERDICT_BYTES:
        return Failure(ErrorCode.OVERSIZED_VALUE, f"verdict is {len(value)} bytes, limit {MAX_VERDICT_BYTES}")
    try:
        verdict = ReviewVerdict.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        code = ErrorCode.INVALID_JSON if first["type"] == "json_invalid" else ErrorCode.SCHEMA_VIOLATION
        path = ".".join(str(p) for p in first["loc"]) or "<root>"
        return Failure(code, f"verdict {path}: {first['msg']}")
    return key_problem(key, verdict.listing_id, "verdict record") or verdict
