"""Backtest: what a policy and a classifier decide on a file of listings, and what changes against
another policy, another classifier, or both (a new model or lexicon is backtested like a policy
before it is deployed: its outcome changes are what the first pass after the rollout will send).

Pure: takes lines, policy books and classifiers, returns counts and the listings whose outcome
differs. The CLI adds the progress bar, the tables and the optional JSON/CSV report.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream_filter.core.classify.classifier import Classifier
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import Clock, Output, Routed, route


@dataclass
class Summary:
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    clusters: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def add(self, routed: Routed) -> None:
        if routed.error is not None:
            self.outcomes[Output.DEAD_LETTER.value] += 1
            self.dead_letters[routed.error.code.value] += 1
            return
        record = routed.decision
        assert record is not None
        self.outcomes[record.outcome.value] += 1
        self.reasons.update(r.code for r in record.reasons)
        self.clusters.update(m.cluster for m in record.clusters)
        self.origins[record.origin.origin_class.value] += 1


@dataclass(frozen=True)
class Change:
    line: int
    listing_id: str
    event_id: str
    before: str
    after: str
    reasons_before: str
    reasons_after: str


@dataclass
class Backtest:
    summary: Summary = field(default_factory=Summary)
    against: Summary | None = None
    changes: list[Change] = field(default_factory=list)

    def change_counts(self) -> Counter[str]:
        return Counter(f"{c.before}->{c.after}" for c in self.changes)


def _codes(routed: Routed) -> str:
    if routed.decision is None:
        return routed.error.code.value if routed.error else ""
    return ",".join(r.code for r in routed.decision.reasons)


def run_backtest(lines: Iterable[bytes], book: PolicyBook, against: PolicyBook | None = None,
                 clock: Clock = "event", progress: Callable[[int], None] | None = None,
                 classifier: Classifier | None = None, against_classifier: Classifier | None = None) -> Backtest:
    """`against` and `against_classifier`: B's policy and classifier; either alone compares with A's
    other one. Classifiers None: the configured one."""
    compare = against is not None or against_classifier is not None
    other = against or book
    result = Backtest(against=Summary() if compare else None)
    for number, line in enumerate(lines, start=1):
        a = route(None, line, book, require_key=False, clock=clock, classifier=classifier)
        result.summary.add(a)
        if result.against is not None:
            b = route(None, line, other, require_key=False, clock=clock, classifier=against_classifier or classifier)
            result.against.add(b)
            if a.output is not b.output and a.decision is not None:
                result.changes.append(Change(number, a.decision.listing_id, a.decision.event_id, a.output.value,
                                             b.output.value, _codes(a), _codes(b)))
        if progress is not None:
            progress(len(line) + 1)
    return result


def report_json(result: Backtest) -> bytes:
    body: dict[str, Any] = {"summary": _summary_dict(result.summary)}
    if result.against is not None:
        body["against"] = _summary_dict(result.against)
        body["change_counts"] = dict(result.change_counts())
        body["changes"] = [c.__dict__ for c in result.changes]
    return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def report_csv(result: Backtest) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "listing_id", "event_id", "before", "after", "reasons_before", "reasons_after"])
    for c in result.changes:
        writer.writerow([c.line, c.listing_id, c.event_id, c.before, c.after, c.reasons_before, c.reasons_after])
    return out.getvalue()


def _summary_dict(s: Summary) -> dict[str, dict[str, int]]:
    return {name: dict(getattr(s, name)) for name in ("outcomes", "reasons", "clusters", "origins", "dead_letters")}
