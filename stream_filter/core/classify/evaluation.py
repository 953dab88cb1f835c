"""Measure the classifiers on labelled real listings (PRDECT-ID layout: Category, Product Name, Location_raw).

Why title only: the events carry no category path and no HS code, so what is measured is the
lexicon layer, the one that has to work when a seller miscategorises. The shipped model was trained
on these rows, so it is measured by cross-validation instead (`training.cross_validate`). Ground truth follows
shared/data/README.md: per cluster, positive and negative Tokopedia categories; mixed ones are
not scored. Pure: reads rows, returns numbers; the CLI prints them and a test asserts thresholds.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stream_filter.core.classify.clusters import classify_clusters
from stream_filter.core.classify.origin import classify_origin
from stream_filter.core.contracts.listing import ListingEvent

_NON_CLUSTER = ["Computers and Laptops", "Gaming", "Electronics", "Books", "Camera", "Office & Stationery", "Kitchen",
                "Automotive", "Phones and Tablets", "Movies and Music", "Tour and Travel", "Property", "Carpentry"]
_FASHION = ["Men's Fashion", "Women's Fashion", "Muslim Fashion", "Kids and Baby Fashion"]
GROUND_TRUTH: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "textile_fashion": (frozenset(_FASHION), frozenset([*_NON_CLUSTER, "Food and Drink"])),
    "food_beverage": (frozenset(["Food and Drink"]), frozenset([*_NON_CLUSTER, *_FASHION])),
}


@dataclass
class ClusterScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors: list[str] = field(default_factory=list)

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


def row_to_event(index: int, row: dict[str, str]) -> ListingEvent:
    return ListingEvent.model_validate({
        "schema_version": 1, "event_id": f"eval-{index}", "event_type": "listing.created",
        "occurred_at": datetime(2022, 1, 1, tzinfo=UTC), "listing_id": f"eval-{index}",
        "title": row["Product Name"], "ship_from": {"location": row.get("Location_raw") or row.get("Location_norm")},
    })


def measure(path: Path) -> Evaluation:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        rows = list(csv.DictReader(fh))
    scores = {cluster: ClusterScore() for cluster in GROUND_TRUTH}
    origins: Counter[str] = Counter()
    cross: list[str] = []
    for i, row in enumerate(rows):
        event = row_to_event(i, row)
        predicted = {m.cluster for m in classify_clusters(event, model=None)}  # the model learnt these rows
        origin = classify_origin(event)
        origins[origin.origin_class.value] += 1
        if origin.origin_class.value.startswith("cross_border"):
            cross.append(row.get("Location_raw", ""))
        for cluster, (positives, negatives) in GROUND_TRUTH.items():
            category, hit = row["Category"], cluster in predicted
            s = scores[cluster]
            if category in positives:
                s.tp, s.fn = s.tp + hit, s.fn + (not hit)
                if not hit:
                    s.errors.append(f"FN [{category}] {row['Product Name']}")
            elif category in negatives:
                s.fp, s.tn = s.fp + hit, s.tn + (not hit)
                if hit:
                    s.errors.append(f"FP [{category}] {row['Product Name']}")
    return Evaluation(len(rows), scores, origins, cross)


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
