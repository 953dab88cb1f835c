"""Readiness says why it is not ready, and each reason goes away when its cause does."""

from __future__ import annotations

from stream_filter.kafka.send_errors import SendError
from stream_filter.worker.output_health import OutputHealth
from stream_filter.worker.readiness import ALIVE_WITHIN_S, RETRIABLE_AFTER_S, Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _ready() -> tuple[Readiness, Clock]:
    clock = Clock()
    readiness = Readiness(OutputHealth(clock), stall_after_s=60, clock=clock)
    readiness.policy_caught_up = True
    return readiness, clock


def test_ready_when_nothing_is_wrong() -> None:
    readiness, _ = _ready()
    assert readiness.not_ready() == [] and readiness.not_alive() == []


def test_policy_not_caught_up_and_states_loading_are_reasons() -> None:
    readiness, _ = _ready()
    readiness.policy_caught_up = False
    readiness.unloaded, readiness.load_error = lambda: [3, 1], "KafkaTimeoutError"
    reasons = readiness.not_ready()
    assert any("policy" in r for r in reasons)
    assert any("[1, 3]" in r and "KafkaTimeoutError" in r for r in reasons)


def test_a_stall_counts_only_while_records_wait() -> None:
    readiness, clock = _ready()
    clock.now += 61
    readiness.tick()
    assert readiness.not_ready() == []  # idle: nothing waits
    readiness.waiting = 12
    [reason] = readiness.not_ready()
    assert "61 s" in reason and "12 records" in reason
    readiness.progressed()
    assert readiness.not_ready() == []


def test_outputs_permanent_at_once_retriable_once_they_last() -> None:
    readiness, clock = _ready()
    readiness.outputs.failed("t.review", SendError.RETRIABLE, "KafkaTimeoutError")
    assert readiness.not_ready() == []
    clock.now += RETRIABLE_AFTER_S
    assert ["t.review" in r for r in readiness.not_ready()] == [True]
    readiness.outputs.failed("t.approved", SendError.PERMANENT, "TopicAuthorizationFailedError")
    assert len(readiness.not_ready()) == 2
    readiness.outputs.delivered("t.review")
    readiness.outputs.delivered("t.approved")
    assert readiness.not_ready() == []


def test_a_late_heartbeat_is_not_alive() -> None:
    readiness, clock = _ready()
    clock.now += ALIVE_WITHIN_S + 1
    assert readiness.not_alive() and readiness.not_ready()
    readiness.tick()
    assert readiness.not_alive() == []


def test_not_ready_before_an_assignment_nor_while_owned_states_are_not_held() -> None:
    """A rolling update waits for readiness: a worker is ready once every partition it owns is loaded."""
    unloaded: list[int] | None = None
    clock = Clock()
    readiness = Readiness(OutputHealth(clock), stall_after_s=60, clock=clock, unloaded=lambda: unloaded)
    readiness.policy_caught_up = True
    [reason] = readiness.not_ready()
    assert "assignment" in reason
    unloaded = [2, 0]
    [reason] = readiness.not_ready()
    assert "[0, 2] loading" in reason
    unloaded = []
    assert readiness.not_ready() == []
