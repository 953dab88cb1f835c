"""The classifiers measured at the level of the decision a seller sees.

Why not F1 alone: what harms a legitimate seller is a wrong rejection, what harms local ones is a
leak, and a review costs a person's time. So every labelled row is decided as a cross-border
seller's listing (seller and ship-from abroad, USD 150 a unit: above the FOB floor, so the cluster
alone decides) under a policy book at a fixed day, and the figures are the rates of those outcomes:
non-closed goods rejected (false rejections) and sent to review; closed goods approved (leaks) and
sent to review; overall and per top-level category. The model is passed in, never swapped
process-wide. Pure: rows in, figures out; `cli/learn.py` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from stream_filter.core.classify.clusters import classify_clusters
from stream_filter.core.classify.labelled import Labelled
from stream_filter.core.classify.lexicon import Lexicon
from stream_filter.core.classify.model import Model
from stream_filter.core.classify.origin import classify_origin
from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.contracts.listing import ListingEvent
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.policy.rules import apply_policies

DAY = date(2026, 12, 1)  # a fixed day: the shipped packs in force then decide
PRICE = {"amount": "150", "currency": "USD"}  # above Permendag 31/2023's USD 100 floor
CLOSED, NON_CLOSED, NOT_SCORED = "closed", "non-closed", "not scored"


def kind_of(row: Labelled, clusters: Sequence[str]) -> str:
    """Closed: in a cluster the policy closes. Non-closed: labelled outside every one of them. A row
    that leaves one unlabelled (a mixed category) is not scored at this level."""
    if any(row.labels.get(c) for c in clusters):
        return CLOSED
    return NON_CLOSED if all(c in row.labels for c in clusters) else NOT_SCORED


def cross_border_listing(index: int, row: Labelled, with_category: bool) -> ListingEvent:
    return ListingEvent.model_validate({
        "schema_version": 1, "event_id": f"eval-{index}", "event_type": "listing.created",
        "occurred_at": datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC), "listing_id": f"eval-{index}",
        "title": row.title, "marketplace": row.marketplace or None, "price": PRICE,
        "category_path": list(row.category_path) if with_category else [],
        "seller": {"id": f"cb-{index}", "country": "CN", "cross_border_program": True},
        "ship_from": {"country": "CN", "location": "Shenzhen"}, "fulfilment": "cross_border_direct"})


@dataclass(frozen=True)
class Decided:
    outcome: Outcome
    evidence: str  # the clusters found and why, for the error lists


def decide_rows(rows: Sequence[Labelled], book: PolicyBook, model: Model | None, lexicon: Lexicon | None = None,
                with_category: bool = False) -> list[Decided]:
    policies = book.active(DAY)
    out = []
    for i, row in enumerate(rows):
        event = cross_border_listing(i, row, with_category)
        clusters = classify_clusters(event, lexicon, model=model)
        outcome, _, _ = apply_policies(policies, event, classify_origin(event), clusters, DAY)
        out.append(Decided(outcome, "; ".join(f"{c.cluster} {c.confidence:.2f}: {', '.join(c.evidence)}"
                                              for c in clusters)))
    return out


def decide_files(parts: Sequence[tuple[str, Sequence[Labelled]]], book: PolicyBook, model: Model | None,
                 training: Sequence[tuple[str, Sequence[Labelled]]] = (), k: int = 0, by_category: bool = False,
                 with_category: bool = False) -> list[Decided]:
    """The rows of `parts` (each file as its digest and rows), decided. With `k` and `training` (the
    model's training files, as digest and rows): the rows of an evaluated file the model was trained
    on are decided by k-fold models trained without their fold (whole top-level categories per fold
    with `by_category`), never by the model that saw them."""
    from stream_filter.core.classify.training import held_out  # trains with scikit-learn: only when asked

    rows = [row for _, part in parts for row in part]
    decided = decide_rows(rows, book, model, with_category=with_category)
    starts = {digest: sum(len(p) for _, p in parts[:i]) for i, (digest, _) in enumerate(parts)}
    if not k or not set(starts) & {digest for digest, _ in training}:
        return decided
    pool: list[Labelled] = []
    where: list[int | None] = []  # a training row's index in `rows`, when it is evaluated
    for digest, part in training:
        start = starts.get(digest)
        pool += part
        where += [None if start is None else start + j for j in range(len(part))]
    for fold_model, indices in held_out(pool, k, 0, by_category=by_category):
        mine = [i for i in indices if where[i] is not None]
        redone = decide_rows([pool[i] for i in mine], book, fold_model, with_category=with_category)
        for i, d in zip(mine, redone, strict=True):
            decided[where[i]] = d  # type: ignore[index]
    return decided


@dataclass
class Tally:
    rows: int = 0
    rejected: int = 0
    review: int = 0
    approved: int = 0

    def add(self, outcome: Outcome) -> None:
        self.rows += 1
        self.rejected += outcome is Outcome.REJECTED
        self.review += outcome is Outcome.REVIEW
        self.approved += outcome is Outcome.APPROVED

    def rate(self, outcome: Outcome) -> float:
        return getattr(self, outcome.value) / self.rows if self.rows else 0.0


@dataclass
class Figures:
    """Per kind (closed, non-closed), overall and per top-level category; the worst errors."""

    overall: dict[str, Tally] = field(default_factory=lambda: {CLOSED: Tally(), NON_CLOSED: Tally()})
    by_top: dict[str, dict[str, Tally]] = field(default_factory=dict)
    not_scored: int = 0
    false_rejections: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)

    @property
    def false_rejection_rate(self) -> float:
        return self.overall[NON_CLOSED].rate(Outcome.REJECTED)

    @property
    def leak_rate(self) -> float:
        return self.overall[CLOSED].rate(Outcome.APPROVED)


def figures(rows: Sequence[Labelled], decided: Sequence[Decided], clusters: Sequence[str]) -> Figures:
    out = Figures()
    for row, d in zip(rows, decided, strict=True):
        kind = kind_of(row, clusters)
        if kind == NOT_SCORED:
            out.not_scored += 1
            continue
        out.overall[kind].add(d.outcome)
        out.by_top.setdefault(row.top or row.category, {CLOSED: Tally(), NON_CLOSED: Tally()})[kind].add(d.outcome)
        if kind == NON_CLOSED and d.outcome is Outcome.REJECTED:
            out.false_rejections.append(f"[{row.top or row.category}] {row.title}  <- {d.evidence}")
        elif kind == CLOSED and d.outcome is Outcome.APPROVED:
            out.leaks.append(f"[{row.top or row.category}] {row.title}")
    return out


def closed_clusters(book: PolicyBook) -> tuple[str, ...]:
    """The clusters the book closes to cross-border sellers on `DAY`."""
    return tuple(sorted({c for p in book.active(DAY) for rule in p.blocked_clusters for c in rule.clusters}))
