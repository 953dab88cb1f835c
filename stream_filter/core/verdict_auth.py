"""Signed review verdicts: writing to the verdict topic is not enough to move a listing.

Why: a verdict approves a listing the policy sent to review. Without signatures, anyone who can
write `listings.review-verdicts` could approve any listing under any reviewer id. With reviewer keys
set (`STREAM_FILTER_REVIEWER_KEYS`: one Ed25519 public key per reviewer id), a worker applies only
verdicts signed by the key of the reviewer they name. The signed bytes cover every field of the
verdict (its outcome, the decision it answers, the listing, the reviewer, the times) and the
deployment (the app id), so a signature cannot be moved to another verdict, listing or deployment.
A key removed (revoked) refuses new verdicts of that reviewer; verdicts already applied stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stream_filter.core.contracts.dead_letter import ErrorCode, Failure
from stream_filter.core.contracts.verdict import ReviewVerdict
from stream_filter.core.policy.signing import sign, verifies

Keys = Mapping[str, Ed25519PublicKey]  # reviewer id -> verify key


def signed_bytes(verdict: ReviewVerdict, deployment: str) -> bytes:
    """What a reviewer signs: the verdict without its signature, and the deployment, as sorted JSON."""
    body = verdict.model_dump(mode="json", exclude={"signature"})
    return orjson.dumps({"deployment": deployment, "verdict": body}, option=orjson.OPT_SORT_KEYS)


def signed(verdict: ReviewVerdict, deployment: str, private_pem: bytes) -> ReviewVerdict:
    """The verdict with the signature of the private key (a reviewer's, PEM)."""
    return verdict.model_copy(update={"signature": sign(signed_bytes(verdict, deployment), private_pem)})


class VerdictAuth:
    """Checks verdicts against the reviewer keys in force now (`keys()`: None when no keys are set,
    and verdicts are then unchecked). Counts what it refused, by code, for `/healthz`."""

    def __init__(self, deployment: str, keys: Callable[[], Keys | None] = lambda: None) -> None:
        self.deployment, self.keys = deployment, keys
        self.refused: Counter[str] = Counter()

    @property
    def checked(self) -> bool:
        return self.keys() is not None

    def check(self, verdict: ReviewVerdict) -> Failure | None:
        keys = self.keys()
        if keys is None:
            return None
        return self.noted(_problem(verdict, self.deployment, keys))

    def noted(self, failure: Failure | None) -> Failure | None:
        """Count a verdict refused (by this check or another, e.g. a replay)."""
        if failure is not None:
            self.refused[failure.code.value] += 1
        return failure


def _problem(verdict: ReviewVerdict, deployment: str, keys: Keys) -> Failure | None:
    if not verdict.signature:
        return Failure(ErrorCode.UNSIGNED_VERDICT, "the verdict is not signed and this deployment checks verdicts "
                       "(stream-filter review approve|reject --key)")
    key = keys.get(verdict.reviewer_id)
    if key is None:
        return Failure(ErrorCode.UNKNOWN_REVIEWER, f"no key is listed for reviewer {verdict.reviewer_id!r} "
                       "(never listed, or revoked)")
    if not verifies(signed_bytes(verdict, deployment), verdict.signature, key):
        return Failure(ErrorCode.BAD_VERDICT_SIGNATURE, f"the signature is not reviewer {verdict.reviewer_id!r}'s "
                       f"over this verdict for deployment {deployment!r}")
    return None
