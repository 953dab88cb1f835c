"""Delivery never lets an exception escape (Faust would ack the batch) and never loses a record.

The topics here are stand-ins that record sends and fail on demand: this tests the decision logic
of `Deliverer`; the real broker path is covered by tests/integration/test_worker.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError
from prometheus_client import CollectorRegistry

from stream_filter.core.route import Output, Routed
from stream_filter.kafka.send_errors import SendError
from stream_filter.worker import delivery
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.output_health import Blocked, OutputHealth
from tests.factories import Msg
from tests.factories import RecordingTopic as Topic


def _too_large() -> ProducerSendError:
    exc = ProducerSendError("refused")
    exc.__cause__ = MessageSizeTooLargeError()
    return exc


def _setup(**errors: list[BaseException]) -> tuple[Deliverer, dict[Output, Topic], CollectorRegistry]:
    topics = {o: Topic(errors=list(errors.get(o.value, []))) for o in Output}
    registry = CollectorRegistry()
    return Deliverer(topics, Metrics(registry, "t")), topics, registry


def test_refused_decision_becomes_a_dead_letter_with_the_original_bytes() -> None:
    deliverer, topics, registry = _setup(approved=[_too_large(), _too_large()])  # in the batch, then alone
    asyncio.run(deliverer.deliver_batch([(Routed(Output.APPROVED, b"k", b"decision", []), Msg())]))
    assert topics[Output.APPROVED].sent == []
    [dead] = topics[Output.DEAD_LETTER].sent
    assert dead["value"] == b"original" and dict(dead["headers"])["error-code"] == b"OUTPUT_TOO_LARGE"
    assert registry.get_sample_value("stream_filter_dead_letters_total", {"code": "OUTPUT_TOO_LARGE"}) == 1


def test_refused_dead_letter_keeps_the_source_coordinates() -> None:
    deliverer, topics, _ = _setup(dead_letter=[_too_large()])
    asyncio.run(deliverer.deliver(Routed(Output.DEAD_LETTER, b"k", b"original", []), Msg()))
    [dead] = topics[Output.DEAD_LETTER].sent
    headers = dict(dead["headers"])
    assert dead["value"] == b"" and headers["original-value-omitted"] == b"true"
    assert (headers["source-partition"], headers["source-offset"]) == (b"1", b"7")


def test_broker_trouble_is_retried_until_it_succeeds(monkeypatch: Any) -> None:
    monkeypatch.setattr(delivery, "SEND_RETRY_DELAY_S", 0)
    outage = [ProducerSendError("metadata"), KafkaConnectionError()]
    deliverer, topics, registry = _setup(rejected=outage)
    asyncio.run(deliverer.deliver_batch([(Routed(Output.REJECTED, b"k", b"decision", []), Msg())]))
    assert [r["value"] for r in topics[Output.REJECTED].sent] == [b"decision"]
    # the batch's error is resent one by one: only the second failure counts
    assert registry.get_sample_value("stream_filter_send_failures_total", {"kind": "retriable"}) == 1
    assert registry.get_sample_value("stream_filter_output_blocked", {"output": "rejected"}) == 0


def test_a_record_refused_with_its_batch_is_sent_alone_before_any_dead_letter() -> None:
    """A producer batch the broker refuses as too large fails every record in it, even small ones."""
    deliverer, topics, registry = _setup(approved=[_too_large()])
    asyncio.run(deliverer.deliver_batch([(Routed(Output.APPROVED, b"k", b"small", []), Msg())]))
    assert [r["value"] for r in topics[Output.APPROVED].sent] == [b"small"]
    assert topics[Output.DEAD_LETTER].sent == []
    assert registry.get_sample_value("stream_filter_delivery_seconds_count", {"records": "decisions"}) == 1
    assert registry.get_sample_value("stream_filter_delivery_seconds_count", {"records": "states"}) == 0


def test_a_failed_shadow_diff_is_dropped_not_retried_and_not_dead_lettered() -> None:
    deliverer, topics, _ = _setup(shadow_diff=[KafkaConnectionError(), KafkaConnectionError()])
    asyncio.run(deliverer.deliver_batch([(Routed(Output.APPROVED, b"k", b"decision", []), Msg()),
                                         (Routed(Output.SHADOW_DIFF, b"k", b"diff", []), Msg())]))
    assert [r["value"] for r in topics[Output.APPROVED].sent] == [b"decision"]
    assert topics[Output.SHADOW_DIFF].sent == [] and topics[Output.DEAD_LETTER].sent == []


def test_an_unexpected_error_never_escapes() -> None:
    deliverer, topics, _ = _setup(review=[TypeError("bad header"), TypeError("bad header")])
    asyncio.run(deliverer.deliver_batch([(Routed(Output.REVIEW, b"k", b"decision", []), Msg())]))
    [dead] = topics[Output.DEAD_LETTER].sent
    assert dead["value"] == b"original" and dict(dead["headers"])["error-code"] == b"PROCESSING_ERROR"


def test_after_a_failure_the_rest_of_the_batch_is_resent_in_order(monkeypatch: Any) -> None:
    monkeypatch.setattr(delivery, "SEND_RETRY_DELAY_S", 0)
    deliverer, topics, _ = _setup()
    approved = topics[Output.APPROVED]
    original_send = approved.send
    calls = {"n": 0}

    async def flaky(**record: Any) -> Any:  # the 2nd of 3 records fails once
        calls["n"] += 1
        if calls["n"] == 2:
            raise KafkaConnectionError()
        return await original_send(**record)

    approved.send = flaky  # type: ignore[method-assign]
    batch = [(Routed(Output.APPROVED, b"k", f"v{i}".encode(), []), Msg(offset=i)) for i in range(3)]
    asyncio.run(deliverer.deliver_batch(batch))
    values = [r["value"] for r in approved.sent]
    assert values[-2:] == [b"v1", b"v2"]  # the last copies are in order
    assert values == [b"v0", b"v2", b"v1", b"v2"]  # v2 sent again after v1: a harmless replay


def test_a_batch_sends_states_then_decisions_then_tombstones() -> None:
    """The one ordering rule (docs/reliability.md): a state acknowledged marks what a replay sends again;
    a tombstone waits for the withdrawal it follows."""
    deliverer, topics, _ = _setup()
    sent: list[bytes | None] = []
    for topic in topics.values():
        topic.on_send = sent.append
    decision = (Routed(Output.APPROVED, b"k", b"decision", []), Msg())
    state = (Routed(Output.STATE, b"k", b"state", [], partition=1), Msg())
    tombstone = (Routed(Output.STATE, b"j", None, [], partition=1), Msg())
    asyncio.run(deliverer.deliver_decided([decision], [tombstone, state]))
    assert sent == [b"state", b"decision", None]
    sent.clear()
    asyncio.run(deliverer.deliver_reevaluated([decision], [state]))  # re-evaluation: decisions first
    assert sent == [b"decision", b"state"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_permanent_error_is_retried_reported_and_cleared_when_writes_work_again(monkeypatch: Any) -> None:
    monkeypatch.setattr(delivery, "SEND_RETRY_DELAY_S", 0)
    clock, seen = Clock(), []
    denied = [TopicAuthorizationFailedError()] * 4
    topics = {o: Topic(errors=list(denied) if o is Output.APPROVED else []) for o in Output}
    registry = CollectorRegistry()
    health = OutputHealth(clock)
    deliverer = Deliverer(topics, Metrics(registry, "t"), names={Output.APPROVED: "t.approved"}, health=health,
                          exit_after_s=60, on_blocked=seen.append)

    seen_while_failing: list[tuple[list[str], float | None]] = []

    async def note(_: float) -> None:  # between retries: what readiness and the gauge show meanwhile
        gauge = registry.get_sample_value("stream_filter_output_blocked", {"output": "approved"})
        seen_while_failing.append((health.problems(retriable_after_s=10), gauge))

    monkeypatch.setattr(delivery.asyncio, "sleep", note)
    asyncio.run(deliverer.deliver_batch([(Routed(Output.APPROVED, b"k", b"d", []), Msg())]))
    assert len(seen_while_failing) == 3
    for problems, gauge in seen_while_failing:
        assert gauge == 1 and len(problems) == 1
        assert "t.approved" in problems[0] and "TopicAuthorizationFailedError" in problems[0]
    assert [r["value"] for r in topics[Output.APPROVED].sent] == [b"d"]  # nothing dead-lettered, nothing lost
    assert topics[Output.DEAD_LETTER].sent == [] and seen == []
    assert health.blocked == {}
    assert registry.get_sample_value("stream_filter_send_failures_total", {"kind": "permanent"}) == 3
    assert registry.get_sample_value("stream_filter_output_blocked", {"output": "approved"}) == 0


def test_a_permanent_error_past_the_bound_ends_the_worker(monkeypatch: Any) -> None:
    monkeypatch.setattr(delivery, "SEND_RETRY_DELAY_S", 0)
    clock = Clock()

    class Exited(Exception):
        pass

    def on_blocked(blocked: Blocked) -> None:
        raise Exited(blocked.topic, blocked.error)

    wrapped = ProducerSendError("denied")
    wrapped.__cause__ = TopicAuthorizationFailedError()
    topics = {o: Topic(errors=[wrapped] * 100 if o is Output.APPROVED else []) for o in Output}
    deliverer = Deliverer(topics, Metrics(CollectorRegistry(), "t"), names={Output.APPROVED: "t.approved"},
                          health=OutputHealth(clock), exit_after_s=60, on_blocked=on_blocked)

    async def slow_clock(_: float) -> None:
        clock.now += 25

    monkeypatch.setattr(delivery.asyncio, "sleep", slow_clock)
    try:
        asyncio.run(deliverer.deliver(Routed(Output.APPROVED, b"k", b"d", []), Msg()))
    except Exited as exc:
        assert exc.args[0] == "t.approved" and "TopicAuthorizationFailedError" in exc.args[1]
    else:
        raise AssertionError("the worker should have exited")
    assert len(topics[Output.APPROVED].errors) == 100 - 4  # at 0, 25, 50 and 75 s: the fourth is past 60 s


def test_a_lasting_retriable_failure_is_asked_about_and_a_missing_topic_is_permanent(monkeypatch: Any) -> None:
    monkeypatch.setattr(delivery, "SEND_RETRY_DELAY_S", 0)
    clock, asked = Clock(), []

    async def probe(topic: str) -> str | None:
        asked.append(topic)
        return "the topic does not exist"

    async def slow_clock(_: float) -> None:
        clock.now += 6

    monkeypatch.setattr(delivery.asyncio, "sleep", slow_clock)
    topics = {o: Topic(errors=[KafkaTimeoutError()] * 3 if o is Output.REVIEW else []) for o in Output}
    health = OutputHealth(clock)
    deliverer = Deliverer(topics, Metrics(CollectorRegistry(), "t"), names={Output.REVIEW: "t.review"},
                          health=health, probe=probe)
    states: list[SendError] = []
    original = health.failed

    def spy(topic: str, kind: SendError, error: str) -> tuple[Blocked, bool]:
        blocked, news = original(topic, kind, error)
        states.append(blocked.kind)
        return blocked, news

    monkeypatch.setattr(health, "failed", spy)
    asyncio.run(deliverer.deliver(Routed(Output.REVIEW, b"k", b"d", []), Msg()))
    assert asked == ["t.review"]  # at 12 s, not at 0 or 6
    assert SendError.PERMANENT in states and [r["value"] for r in topics[Output.REVIEW].sent] == [b"d"]


def test_send_failures_never_log_the_listing(caplog: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(delivery, "SEND_RETRY_DELAY_S", 0)
    caplog.set_level("INFO")
    deliverer, _, _ = _setup(approved=[TopicAuthorizationFailedError()] * 3, state=[_too_large()] * 2)
    asyncio.run(deliverer.deliver_batch([(Routed(Output.APPROVED, b"L-secret-id", b"d", []), Msg()),
                                         (Routed(Output.STATE, b"L-secret-id", b"s", [], partition=0), Msg())]))
    assert caplog.records and all("L-secret-id" not in r.getMessage() for r in caplog.records)
