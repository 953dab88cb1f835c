"""What a policy change would do to the active listings, before it goes live.

Pure: given the listings' states (what the workers hold, read from the state changelog) and the
book that would be live, decide each listing again as re-evaluation would and count the outcomes
that change. Operators learn the impact from this, not from the catalogue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from stream_filter.core.lifecycle import reevaluate
from stream_filter.core.listing_state import ListingState
from stream_filter.core.policy.book import PolicyBook


@dataclass
class Impact:
    active: int = 0
    changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (before, after) -> listings
    examples: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, before, after, first reason
    errors: int = 0

    def lines(self) -> list[str]:
        changed = sum(self.changes.values())
        out = [f"active listings: {self.active}; would change outcome: {changed}"
               + (f"; not decidable: {self.errors}" if self.errors else "")]
        out += [f"  {before} -> {after}: {n}" for (before, after), n in sorted(self.changes.items())]
        out += [f"  e.g. {listing}: {before} -> {after} ({code})" for listing, before, after, code in self.examples]
        return out


def preview(states: Iterable[ListingState], book: PolicyBook, now: datetime, examples: int = 10) -> Impact:
    impact = Impact()
    for state in states:
        impact.active += 1
        try:
            step = reevaluate(state, book, now, force=True)
        except Exception:  # noqa: BLE001 - counted, as the pass counts what it cannot decide
            impact.errors += 1
            continue
        if step is None or step.state is None:
            continue
        after = step.state.outcome.value
        impact.changes[(state.outcome.value, after)] += 1
        if len(impact.examples) < examples:
            code = step.state.reasons[1].code if len(step.state.reasons) > 1 else step.state.reasons[0].code
            impact.examples.append((state.listing_id, state.outcome.value, after, code))
    return impact
