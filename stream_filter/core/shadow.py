"""Shadow evaluation: what a candidate policy would decide, beside the live one, on the same event.

Pure: given the live decision and the shadow policy book, returns a diff record when the outcomes
differ, for `listings.shadow-diff`; nothing when they agree or when the event is not decidable.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from stream_filter.core.contracts.decision import DecisionRecord
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Clock, Output, Routed, decide


def _side(record: DecisionRecord) -> dict[str, object]:
    return {"outcome": record.outcome.value, "reasons": [r.code for r in record.reasons],
            "policy": record.policy.model_dump()}


def shadow_diff(live: Routed, shadow: PolicyBook, clock: Clock = "event") -> Routed | None:
    """Decide the already-decoded event again under `shadow`; no second decode, no second validation."""
    if live.decision is None or live.decoded is None:
        return None
    other = decide(live.decoded, shadow, live.decision.decided_at, clock)
    if other.outcome is live.decision.outcome:
        return None
    body = {"schema_version": 1, "listing_id": live.decision.listing_id, "event_id": live.decision.event_id,
            "live": _side(live.decision), "shadow": _side(other), "compared_at": datetime.now(UTC).isoformat()}
    headers = [("live-outcome", live.decision.outcome.value.encode()),
               ("shadow-outcome", other.outcome.value.encode())]
    return Routed(Output.SHADOW_DIFF, live.decision.listing_id.encode(), orjson.dumps(body), headers, other)
