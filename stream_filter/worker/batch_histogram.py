"""A Prometheus histogram observed a batch at a time.

Why: prometheus_client's `Histogram.observe` takes a lock and scans the buckets for every value, and
the worker observes two histograms per record (the decision's duration, the event's age): a batch
of 500 paid a thousand lock round trips. Here a batch's values are placed with `bisect` and added
under one lock. The exposition is prometheus_client's own family (`HistogramMetricFamily`): the
same name, type, help, `le` labels, `_sum` and `_count` as before, so dashboards, alerts and their
promtool tests read it unchanged (tests/unit/worker/test_batch_histogram.py compares the two).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString


class BatchHistogram:
    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = [float(b) for b in buckets]  # upper bounds; +Inf is the last, implicit bucket
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()  # /metrics may be read from another thread
        registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        """Observe every value (a value equal to a bound falls in that bound's bucket, as `le` says)."""
        bounds = self.bounds
        places = [bisect_left(bounds, v) for v in values]
        with self._lock:
            counts = self._counts
            for place in places:
                counts[place] += 1
            total = self._sum
            for value in values:  # one at a time, as prometheus_client adds: the same float sum
                total += value
            self._sum = total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip([*self.bounds, float("inf")], counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation)
