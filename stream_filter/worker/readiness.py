"""Liveness and readiness: what `/healthz` and `/readyz` answer, each with its reasons.

Why two: an orchestrator restarts a process that is not alive (its event loop stopped turning) but
only takes traffic and alerts away from one that is not ready (a policy not caught up, no partitions
assigned yet, the states of owned partitions not loaded yet, records waiting with no batch
delivered, an output refusing writes, a re-evaluation pass not completed in time, a batch waiting for
the schema registry). Restarting a
worker because its broker is down would not help and would cost a state restore. A rolling update
waits for readiness before it restarts the next worker, so ready means the worker holds what it owns.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic

from stream_filter.worker.output_health import OutputHealth

ALIVE_WITHIN_S = 10.0  # the heartbeat ticks every second: a loop this late is stuck
RETRIABLE_AFTER_S = 10.0  # a retriable send failure this long stops being a blip
FLOWING_WITHIN_S = 10.0  # a batch this recent: events are arriving (long jobs leave them room)


class Readiness:
    def __init__(self, outputs: OutputHealth, stall_after_s: float, clock: Callable[[], float] = monotonic,
                 unloaded: Callable[[], list[int] | None] = list) -> None:
        self.outputs = outputs
        self.unloaded = unloaded  # assigned partitions whose states are not held yet; None before any assignment
        self.stall_after_s = stall_after_s
        self.clock = clock
        self.beat = self.started = clock()
        self.policy_caught_up = False
        self.policy_refused: str | None = None  # why the latest refused policy record was ignored
        self.load_error: str | None = None  # why the last load of listing states failed (it is retried)
        self.waiting = 0  # records behind on owned partitions, at the last lag measurement
        self.last_batch: float | None = None  # when a batch was last delivered (None: none yet)
        self.reevaluation_late: str | None = None  # why the re-evaluation pass requested is late (Enforcer.late)
        self.registry_outage: str | None = None  # why a batch waits for the schema registry (schema_wait.py)

    def tick(self) -> None:
        self.beat = self.clock()

    def progressed(self) -> None:
        """A batch was delivered."""
        self.last_batch = self.clock()

    def flowing(self, within_s: float = FLOWING_WITHIN_S) -> bool:
        """Whether events are arriving: a batch was delivered lately. Long enough that a decision loop a
        long job has slowed does not look idle (the job would then take the whole loop again)."""
        return self.last_batch is not None and self.clock() - self.last_batch < within_s

    def not_alive(self) -> list[str]:
        late = self.clock() - self.beat
        return [f"event loop heartbeat {late:.0f} s late"] if late > ALIVE_WITHIN_S else []

    def not_ready(self) -> list[str]:
        reasons = self.not_alive()
        if not self.policy_caught_up:
            reasons.append("policy topic not caught up: deciding with the policy loaded before")
        unloaded = self.unloaded()
        if unloaded is None:
            reasons.append("no partition assignment from the consumer group yet")
        elif unloaded:
            error = f" ({self.load_error}; retrying)" if self.load_error else ""
            reasons.append(f"listing states of partitions {sorted(unloaded)} loading{error}")
        idle = self.clock() - (self.started if self.last_batch is None else self.last_batch)
        if self.waiting > 0 and idle > self.stall_after_s:
            reasons.append(f"no batch delivered for {idle:.0f} s while {self.waiting} records wait")
        reasons += [f"output {problem}" for problem in self.outputs.problems(RETRIABLE_AFTER_S)]
        if self.reevaluation_late:
            reasons.append(self.reevaluation_late)
        if self.registry_outage:
            reasons.append(self.registry_outage)
        return reasons
