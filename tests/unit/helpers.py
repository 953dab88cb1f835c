"""Event builders for unit tests: a valid ListingEvent dict with overrides."""

from __future__ import annotations

from typing import Any

from stream_filter.core.contracts.listing import ListingEvent


def event_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1, "event_id": "ev-1", "event_type": "listing.created",
        "occurred_at": "2026-11-01T10:00:00Z", "listing_id": "L-1", "title": "Kaos Polos Cotton Combed 30s",
    }
    base.update(overrides)
    return base


def event(**overrides: Any) -> ListingEvent:
    return ListingEvent.model_validate(event_dict(**overrides))
