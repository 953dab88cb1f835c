"""The impact preview decides the held listings again under the candidate book, as re-evaluation would."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from stream_filter.core.impact import preview
from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.files import parse_policy
from stream_filter.core.route import route
from tests.factories import event_dict, policy_text

NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
V1 = PolicyBook([parse_policy(policy_text("1", code="CLOSED", verb="closed"))])
V2 = PolicyBook([parse_policy(policy_text("2", "textile_fashion, food_beverage", code="CLOSED", verb="closed"))])
CROSS_BORDER = {"seller": {"country": "CN"}, "ship_from": {"location": "Shenzhen"}}


def _state(listing_id: str, title: str, **fields: object) -> ListingState:
    body = event_dict(listing_id=listing_id, event_id=f"e-{listing_id}", title=title, **fields)
    step = advance(route(listing_id.encode(), orjson.dumps(body), V1, now=NOW), None, 0)
    assert step.state is not None
    return step.state


def test_only_listings_whose_outcome_changes_are_counted_with_examples() -> None:
    states = [_state("food-cb", "Keripik Pedas Level 10 Khas Bandung 250gr", **CROSS_BORDER),
              _state("food-local", "Keripik Pedas Level 10 Khas Bandung 250gr", seller={"country": "ID"},
                     ship_from={"location": "Bandung"}),
              _state("shirt-cb", "Kaos Polos Cotton Combed 30s", **CROSS_BORDER)]
    impact = preview(states, V2, NOW)
    assert impact.active == 3 and impact.errors == 0
    assert impact.changes == {("approved", "rejected"): 1}
    assert impact.examples == [("food-cb", "approved", "rejected", "CLOSED")]
    assert preview(states, V1, NOW).changes == {}
    assert "would change outcome: 1" in impact.lines()[0]
