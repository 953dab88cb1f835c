"""The metric names the worker exports, as PromQL sees them, for tests of what deploy files query."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from stream_filter.worker.metrics import Metrics


def exported() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry, "test")
    names = set()
    for family in registry.collect():
        names |= {sample.name for sample in family.samples} | {family.name}
        if family.type == "counter":  # labelled counters without children yet have no samples
            names.add(f"{family.name}_total")
    return names | {f"{name}_bucket" for name in names}


def used_in(text: str) -> set[str]:
    return set(re.findall(r"stream_filter_[a-z_]+", text))
