"""The batch histogram exposes exactly what prometheus_client's Histogram exposes for the same values:
dashboards, alerts and their promtool tests read the same series."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics, generate_latest

from stream_filter.worker.batch_histogram import BatchHistogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def test_the_exposition_is_prometheus_clients() -> None:
    disable_created_metrics()
    rng = random.Random(7)
    values = [rng.choice([0.0, 0.0005, 0.001, 1.0, 2.0]) if rng.random() < 0.2 else rng.expovariate(200)
              for _ in range(5_000)]  # values on the bounds included: `le` means less than or equal
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("stream_filter_processing_seconds", "Decode, classify and decide one record.",
                          buckets=BUCKETS, registry=theirs)
    batched = BatchHistogram("stream_filter_processing_seconds", "Decode, classify and decide one record.",
                             BUCKETS, ours)
    for value in values:
        reference.observe(value)
    for start in range(0, len(values), 500):
        batched.observe_many(values[start:start + 500])
    assert generate_latest(ours) == generate_latest(theirs)
    batched.observe_many([])  # an empty batch changes nothing
    assert generate_latest(ours) == generate_latest(theirs)
