"""Measure the classifiers on labelled real listings (PRDECT-ID layout: Category, Product Name, Location_raw).

Why title only: the events carry no category path and no HS code, so what is measured is what has
to work when a seller miscategorises. `measure` scores the lexicon alone: the shipped model was
trained on these rows, so it is measured by cross-validation (`training.cross_validate`). Labels
come from `labelled.py`. Pure: reads rows, returns numbers; the CLI prints them and tests assert
thresholds.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stream_filter.core.classify.clusters import classify_clusters
from stream_filter.core.classify.labelled import GROUND_TRUTH, Labelled, prdect_row
from stream_filter.core.classify.model import Model, default_model
from stream_filter.core.classify.origin import classify_origin
from stream_filter.core.contracts.listing import ListingEvent


@dataclass
class ClusterScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, truth: bool, found: bool) -> None:
        """One row's verdict on the cluster against its label."""
        self.tp, self.fp = self.tp + (found and truth), self.fp + (found and not truth)
        self.fn, self.tn = self.fn + (truth and not found), self.tn + (not truth and not found)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Evaluation:
    rows: int
    clusters: dict[str, ClusterScore]
    origins: Counter[str]
    cross_border_locations: list[str]


def title_event(index: int, title: str, location: str | None = None) -> ListingEvent:
    """A listing with only its title (and the seller's location, if known): what is measured is what
    works when the category is wrong or missing."""
    return ListingEvent.model_validate({
        "schema_version": 1, "event_id": f"eval-{index}", "event_type": "listing.created",
        "occurred_at": datetime(2022, 1, 1, tzinfo=UTC), "listing_id": f"eval-{index}", "title": title,
        **({"ship_from": {"location": location}} if location else {})})


def row_to_event(index: int, row: dict[str, str]) -> ListingEvent:
    return title_event(index, row["Product Name"], row.get("Location_raw") or row.get("Location_norm"))


_DEFAULT = object()


def matches(rows: Sequence[Labelled], model: Model | object | None = _DEFAULT) -> list[dict[str, float]]:
    """Each row's clusters from its title, with their confidence: the lexicon alone (`model=None`), or
    with a model (default: the configured one)."""
    chosen = default_model() if model is _DEFAULT else model
    return [{m.cluster: m.confidence for m in classify_clusters(title_event(i, row.title), model=chosen)}
            for i, row in enumerate(rows)]


def predictions(rows: Sequence[Labelled], model: Model | object | None = _DEFAULT) -> list[set[str]]:
    """Each row's clusters, rejected or reviewed alike."""
    return [set(found) for found in matches(rows, model)]


def scores(rows: Sequence[Labelled], predicted: Sequence[set[str]]) -> dict[str, ClusterScore]:
    """Precision and recall per cluster over the rows that label it, with the errors listed."""
    out: dict[str, ClusterScore] = {}
    for row, found in zip(rows, predicted, strict=True):
        for cluster, truth in row.labels.items():
            s = out.setdefault(cluster, ClusterScore())
            hit = cluster in found
            s.add(truth, hit)
            if hit != truth:
                s.errors.append(f"{'FN' if truth else 'FP'} [{row.category}] {row.title}")
    return dict(sorted(out.items()))


def measure(path: Path) -> Evaluation:
    """The lexicon alone on a PRDECT-ID file, and the origin of every row (the shipped model learnt
    these rows: it is measured by cross-validation, `training.cross_validate`)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        raw = list(csv.DictReader(fh))
    events = [row_to_event(i, row) for i, row in enumerate(raw)]
    classes = [classify_origin(event).origin_class.value for event in events]
    cross = [row.get("Location_raw", "") for row, origin in zip(raw, classes, strict=True)
             if origin.startswith("cross_border")]
    predicted = [{m.cluster for m in classify_clusters(event, model=None)} for event in events]
    clusters = scores([prdect_row(row) for row in raw], predicted)
    return Evaluation(len(raw), {c: s for c, s in clusters.items() if c in GROUND_TRUTH}, Counter(classes), cross)


def report(result: Evaluation, show_errors: int = 0) -> str:
    header = f"{'cluster':<16} {'P':>6} {'R':>6} {'F1':>6} {'TP':>5} {'FP':>5} {'FN':>5} {'TN':>5}"
    lines = [f"rows: {result.rows}", header]
    for cluster, s in result.clusters.items():
        lines.append(f"{cluster:<16} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} "
                     f"{s.tp:5d} {s.fp:5d} {s.fn:5d} {s.tn:5d}")
    lines.append("origin classes: " + ", ".join(f"{k}={v}" for k, v in sorted(result.origins.items())))
    lines.append(f"domestic locations classified cross-border: {len(result.cross_border_locations)}")
    for cluster, s in result.clusters.items():
        lines.extend(f"  {cluster}: {e}" for e in s.errors[:show_errors])
    return "\n".join(lines)
