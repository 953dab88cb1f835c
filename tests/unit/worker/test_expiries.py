"""Expiring review verdicts against re-evaluation passes, without a broker: expiries decide just their
listings and never restart a pass, so every pass completes however often verdicts expire; a pass
that does not complete in time is said (`Enforcer.late`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry

from stream_filter.core.contracts.decision import Outcome
from stream_filter.core.policy.book import PolicyBook, PolicyHolder
from stream_filter.core.route import Output
from stream_filter.settings import Settings
from stream_filter.state.listing_states import ListingStates
from stream_filter.worker.delivery import Deliverer
from stream_filter.worker.enforcement import LATE_FIRST_S, LATE_MIN_S, Enforcer
from stream_filter.worker.metrics import Metrics
from stream_filter.worker.output_health import OutputHealth
from stream_filter.worker.readiness import Readiness
from tests.factories import MemoryStates, RecordingTopic, decider, in_review, listing_msg, verdict_msg

LISTINGS = 6_000  # the audit's scaled model of a million listings
EXPIRY_EVERY_S = 0.1
CHUNK_PAUSE_S = 0.05  # a pass of 12 chunks lasts about 0.6 s: several expiries fall in each


def _enforcer(tmp_path: Path) -> tuple[Enforcer, ListingStates, dict[Output, RecordingTopic], CollectorRegistry]:
    states = ListingStates(Settings(state_store="memory", data_dir=str(tmp_path)))
    states.open(0)
    topics = {o: RecordingTopic() for o in Output}
    registry = CollectorRegistry()
    metrics = Metrics(registry, "t")

    async def loaded(partitions: set[int]) -> None:
        assert partitions == {0}

    async def pace(_: float) -> None:
        await asyncio.sleep(CHUNK_PAUSE_S)

    enforcer = Enforcer(states, PolicyHolder(PolicyBook.load("default")), Deliverer(topics, metrics), metrics,
                        asyncio.Lock(), owned=lambda: {0}, load=loaded, busy=lambda: False, pace=pace)
    return enforcer, states, topics, registry


def _fill(states: ListingStates, n: int) -> None:
    """n listings decided by the worker's batch decider under the live pack, held in the enforcer's store."""
    memory = MemoryStates({0: {}})
    decider().decide([listing_msg(f"L-{i:05}", 0, i) for i in range(n)], memory.view)
    view = states.view([])
    for key in memory.partitions[0]:
        state = memory.get(key.decode(), 0)
        assert state is not None
        view.put(key.decode(), 0, state)
    view.flush()


def test_expiries_every_tenth_of_a_second_never_keep_a_pass_from_completing(tmp_path: Path) -> None:
    """The audit's model: 6,000 listings, a verdict expiring every 0.1 s. Before, each expiry restarted
    the pass from its first key: 0 passes completed. Now each completes within 2x its duration alone."""
    enforcer, states, _, registry = _enforcer(tmp_path)
    _fill(states, LISTINGS)
    enforcer.request(full=True)
    asyncio.run(enforcer.run_pass())
    alone = enforcer.last_duration
    assert alone is not None and registry.get_sample_value("stream_filter_reevaluation_passes_total") == 1

    async def scenario() -> tuple[list[float], int]:
        runner = asyncio.create_task(enforcer.run())
        expiring, durations, done = 0, [], 1

        async def expiries() -> None:
            nonlocal expiring
            while True:
                await asyncio.sleep(EXPIRY_EVERY_S)
                enforcer.expire([(0, f"L-{expiring % LISTINGS:05}")])
                expiring += 1

        feeder = asyncio.create_task(expiries())
        for _ in range(3):  # three policy-change passes, each requested once the one before completed
            enforcer.request(full=True)
            while registry.get_sample_value("stream_filter_reevaluation_passes_total") == done:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            done += 1
            assert enforcer.last_duration is not None
            durations.append(enforcer.last_duration)
        feeder.cancel()
        await asyncio.sleep(0.2)  # the last expiries are decided
        runner.cancel()
        return durations, expiring

    durations, expiring = asyncio.run(asyncio.wait_for(scenario(), 60))
    print(f"\npass alone {alone:.2f} s; with an expiry every {EXPIRY_EVERY_S} s: "
          f"{', '.join(f'{d:.2f}' for d in durations)} s; {expiring} expiries")
    assert len(durations) == 3 and max(durations) <= 2 * alone
    assert expiring >= 2 * alone / EXPIRY_EVERY_S  # several expiries fell in every pass
    assert registry.get_sample_value("stream_filter_reevaluation_expired_total") >= expiring - 2
    assert enforcer.late() == (0.0, None)  # nothing waiting once the passes completed


def test_an_expired_verdict_is_decided_again_without_a_pass(tmp_path: Path) -> None:
    """The listing a reviewer approved until a moment ago goes back to review as the policy decides,
    with a removal from the approved topic, and no pass was requested for it."""
    enforcer, states, topics, _ = _enforcer(tmp_path)
    memory = MemoryStates({0: {}})
    reviewed, _ = in_review(memory)
    expiry = datetime.now(UTC) + timedelta(seconds=0.3)
    decider().decide_verdicts([verdict_msg("L-1", reviewed.decision_id, 0, expires_at=expiry.isoformat())],
                              memory.view)
    approved = memory.get("L-1", 0)
    assert approved is not None and approved.outcome is Outcome.APPROVED
    view = states.view([])
    view.put("L-1", 0, approved)
    view.flush()
    enforcer.review.changed(0, "L-1", None, approved)
    assert enforcer.review.expired(expiry - timedelta(seconds=0.1)) == []
    due = enforcer.review.expired(expiry + timedelta(seconds=0.1))
    assert due == [(0, "L-1")]
    while datetime.now(UTC) <= expiry:  # the enforcer reads the clock: the verdict must have expired
        asyncio.run(asyncio.sleep(0.05))
    enforcer.expire(due)
    asyncio.run(enforcer.decide_targets())
    assert not enforcer.wanted.is_set() and enforcer.requested_at is None
    review = [orjson.loads(r["value"]) for r in topics[Output.REVIEW].sent]
    removed = [orjson.loads(r["value"]) for r in topics[Output.APPROVED].sent]
    # the verdict's batch is sent again first (same ids: consumers drop them), then the new decision
    assert (review[-1]["action"], removed[-1]["action"]) == ("upsert", "remove")
    assert review[-1]["reasons"][0]["code"].startswith("REVIEW_VERDICT_")  # says why the verdict no longer holds
    after = states.get_key(0, b"L-1")
    assert after is not None and after.outcome is Outcome.REVIEW and after.verdict is None
    assert after.decision_id == review[-1]["decision_id"]


def test_a_pass_that_does_not_complete_in_time_is_said(tmp_path: Path) -> None:
    enforcer, _, _, _ = _enforcer(tmp_path)
    readiness = Readiness(OutputHealth(), stall_after_s=60)
    assert enforcer.late() == (0.0, None)
    enforcer.request()
    start = enforcer.requested_at
    assert start is not None
    assert enforcer.late(start + LATE_FIRST_S - 1)[1] is None  # no pass has completed yet: an hour
    waited, why = enforcer.late(start + LATE_FIRST_S + 1)
    assert waited > LATE_FIRST_S and why is not None and "has not completed" in why
    enforcer.last_duration = 100.0  # a completed pass took 100 s: 3x that
    assert enforcer.late(start + 299)[1] is None and enforcer.late(start + 301)[1] is not None
    enforcer.last_duration = 1.0  # a quick pass: at least a minute
    assert enforcer.late(start + LATE_MIN_S - 1)[1] is None
    readiness.reevaluation_late = enforcer.late(start + LATE_MIN_S + 1)[1]
    assert any("re-evaluation pass" in r for r in readiness.not_ready())
