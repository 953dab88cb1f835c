"""The consumer contract as code: the catalogue a downstream service builds from the output topics.

A consumer applies a topic's records in order, drops a `decision_id` it has already applied, puts
the listing on the topic on `upsert` and takes it off on `remove` (docs/contracts.md, "The catalogue
contract"). For every listing, the catalogue so built must equal the topic of its latest decision,
after any crash, replay, rebalance or restart. `stream-filter catalogue` and the chaos, replay and
partition tests use this model as their oracle; `expected_topics` gives the oracle's other side:
the listing's latest decision when the same events are decided offline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream_filter.core.framing import strip_frame
from stream_filter.core.lifecycle import advance
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.day import Clock
from stream_filter.core.route import route

KINDS = ("approved", "rejected", "review")


@dataclass
class Catalogue:
    applied: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    listings: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    duplicates: int = 0  # records dropped as already applied (replays)
    keep: tuple[str, ...] = ()  # topics whose listings' latest records are kept (the review queue)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # kind -> listing id -> record

    def apply(self, kind: str, value: bytes | None) -> None:
        """One record of the `kind` topic, in that topic's order."""
        record = orjson.loads(strip_frame(value or b""))  # framed (STREAM_FILTER_OUTPUT_FORMAT=registry) or not
        if record["decision_id"] in self.applied[kind]:
            self.duplicates += 1
            return
        self.applied[kind].add(record["decision_id"])
        listing_id, upsert = record["listing_id"], record["action"] == "upsert"
        (self.listings[kind].add if upsert else self.listings[kind].discard)(listing_id)
        if kind in self.keep:
            kept = self.records.setdefault(kind, {})
            if upsert:
                kept[listing_id] = record
            else:
                kept.pop(listing_id, None)

    def topics_of(self) -> dict[str, set[str]]:
        """Listing id -> the topics it is on."""
        where: dict[str, set[str]] = {}
        for kind, ids in self.listings.items():
            for listing_id in ids:
                where.setdefault(listing_id, set()).add(kind)
        return where

    def counts(self) -> Counter[str]:
        return Counter({kind: len(ids) for kind, ids in self.listings.items()})

    def differences(self, expected: Mapping[str, str | None]) -> dict[str, tuple[set[str], str | None]]:
        """Listings whose topics differ from `expected` (listing id -> topic kind, None: on none)."""
        where = self.topics_of()
        return {listing_id: (where.get(listing_id, set()), kind)
                for listing_id in set(expected) | set(where)
                if where.get(listing_id, set()) != ({kind} if (kind := expected.get(listing_id)) else set())}


def expected_topics(lines: Iterable[bytes], book: PolicyBook, clock: Clock = "event") -> dict[str, str | None]:
    """Listing id -> the topic of its latest decision (None: deleted) when the lines are decided in order
    offline, as `stream-filter classify` does; dead letters change nothing."""
    states: dict[str, ListingState | None] = {}
    for line in lines:
        routed = route(None, line, book, require_key=False, clock=clock)
        if routed.decision is None:
            continue
        listing_id = routed.decision.listing_id
        states[listing_id] = advance(routed, states.get(listing_id), 0).state
    return {listing_id: state.outcome.value if state else None for listing_id, state in states.items()}
