"""Which output topics cannot be written, since when and why: what `/readyz` reports and what ends
the worker when a permanent error outlasts its bound.

Why: the decision loops deliver every batch in order, so an output that cannot be written stops every
partition. That must be visible at once (readiness, a gauge, one ERROR line), and a permanent
error must not spin for ever: past `output_blocked_exit_s` the worker exits non-zero, naming the
topic and the error, so the orchestrator restarts it and alerts (docs/reliability.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic

from stream_filter.kafka.send_errors import SendError


@dataclass
class Blocked:
    topic: str
    since: float
    error: str
    kind: SendError

    def describe(self, now: float) -> str:
        return f"{self.topic}: {self.kind.value} send error for {now - self.since:.0f} s ({self.error})"


class OutputHealth:
    def __init__(self, clock: Callable[[], float] = monotonic) -> None:
        self.clock = clock
        self.blocked: dict[str, Blocked] = {}  # topic -> its failure, from the first to the next success

    def failed(self, topic: str, kind: SendError, error: str) -> tuple[Blocked, bool]:
        """Record a failed send; returns the failure and whether it is new or newly permanent."""
        now = self.clock()
        seen = self.blocked.get(topic)
        if seen is None:
            seen = self.blocked[topic] = Blocked(topic, now, error, kind)
            return seen, True
        news = kind is SendError.PERMANENT and seen.kind is not SendError.PERMANENT
        seen.error, seen.kind = error, SendError.PERMANENT if news else seen.kind
        return seen, news

    def delivered(self, topic: str) -> bool:
        """A send to `topic` succeeded; returns whether the topic had been failing."""
        return self.blocked.pop(topic, None) is not None

    def failing_for(self, blocked: Blocked) -> float:
        return self.clock() - blocked.since

    def problems(self, retriable_after_s: float) -> list[str]:
        """What readiness reports: permanent failures at once, retriable ones once they last."""
        now = self.clock()
        return [b.describe(now) for b in self.blocked.values()
                if b.kind is SendError.PERMANENT or now - b.since >= retriable_after_s]
