"""The intake between Faust's consumer and the decision loops, and the consumer's side of it:
batches in fetch order, bounded, dropped at revocation; offsets acknowledged to Faust's committer."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from stream_filter.settings import Settings
from stream_filter.worker.faust_options import faust_options
from stream_filter.worker.intake import Intake
from stream_filter.worker.transport import App
from tests.factories import Msg


def msgs(partition: int, offsets: range, topic: str = "in") -> list[Msg]:
    return [Msg(b"k", b"v", partition, offset, topic) for offset in offsets]


def test_batches_keep_fetch_order_and_split_chunks() -> None:
    async def run() -> list[list[tuple[int, int | None]]]:
        intake = Intake()
        await intake.put(0, msgs(0, range(0, 3)))
        await intake.put(0, msgs(1, range(10, 12)))
        await intake.put(0, msgs(0, range(3, 5)))
        batches = [await intake.take(4, 0.01), await intake.take(4, 0.01)]
        return [[(m.partition, m.offset) for m in batch] for batch in batches]

    first, second = asyncio.run(run())
    assert first == [(0, 0), (0, 1), (0, 2), (1, 10)]
    assert second == [(1, 11), (0, 3), (0, 4)]


def test_take_waits_within_for_a_full_batch_then_returns_what_came() -> None:
    async def run() -> tuple[int, int]:
        intake = Intake()
        await intake.put(0, msgs(0, range(2)))
        late = asyncio.get_running_loop().call_later(0.02, lambda: asyncio.ensure_future(
            intake.put(0, msgs(0, range(2, 5)))))
        full = await intake.take(5, 1.0)  # filled before the wait ends
        late.cancel()
        await intake.put(0, msgs(0, range(5, 6)))
        partial = await intake.take(5, 0.02)
        return len(full), len(partial)

    assert asyncio.run(run()) == (5, 1)


def test_put_waits_for_room_and_a_drop_refuses_what_was_fetched_before_it() -> None:
    async def run() -> tuple[bool, bool, int, bool]:
        intake = Intake(max_waiting=3)
        await intake.put(0, msgs(0, range(3)))
        blocked = asyncio.create_task(intake.put(0, msgs(0, range(3, 5))))
        await asyncio.sleep(0.01)
        waited = not blocked.done()
        assert await intake.drop() == 3
        refused = not await blocked
        after = await intake.put(intake.generation, msgs(0, range(0, 2)))
        return waited, refused, intake.waiting, after

    assert asyncio.run(run()) == (True, True, 2, True)


class Record:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset, self.key, self.value = topic, partition, offset, b"k", b"v"


Fetched = dict[TP, list[Record]]


def test_the_consumer_puts_intake_topics_and_acknowledges_for_faust_to_commit(monkeypatch: Any) -> None:
    settings = Settings(app_id="intake-consumer")
    app = App(settings.app_id, fetch_max_wait_ms=100, **faust_options(settings))
    consumer: Any = app.consumer
    try:
        asyncio.run(_fetch_and_ack(app, consumer, monkeypatch))
    finally:
        consumer._thread.thread_loop.close()  # made for the consumer thread, which never ran


async def _fetch_and_ack(app: Any, consumer: Any, monkeypatch: Any) -> None:
    intake = Intake()
    consumer.intakes["in"] = intake
    app.topics.add(app.topic("in", key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"))
    await app.topics._update_indices()  # what the conductor does when the subscription changes
    held = TP("in", 2)
    fetched = {TP("in", 0): [Record("in", 0, o) for o in (5, 6, 9)],  # 7, 8: not in the log (a gap)
               TP("in", 1): [Record("in", 1, o) for o in (3, 4)], held: [Record("in", 2, 0)],
               TP("in", 3): [Record("in", 3, o) for o in (0, 3)]}  # 1, 2: a gap right after offset 0

    async def wait_next_records(timeout: float) -> tuple[Fetched, set[TP]]:  # noqa: ASYNC109 - Faust's
        return fetched, {TP("in", 0), TP("in", 1), TP("in", 3)}

    monkeypatch.setattr(consumer, "_wait_next_records", wait_next_records)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 100)  # the started consumer's view
    consumer.flow_active = True
    consumer._read_offset[TP("in", 0)] = 5  # as after a seek to committed offset 5
    consumer._committed_offset[TP("in", 0)] = 5
    yielded = [pair async for pair in consumer.getmany(1.0)]
    assert yielded == []  # nothing went Faust's per-record way
    taken = await intake.take(10, 0.01)
    assert [(r.partition, r.offset) for r in taken] == [(0, 5), (0, 6), (0, 9), (1, 3), (1, 4), (3, 0), (3, 3)]
    consumer.acknowledge(taken)  # the held partition's record was not taken
    assert set(app.monitor.stream_inbound_time) == {TP("in", 0), TP("in", 1), TP("in", 3)}  # Faust's stall check
    assert consumer._new_offset(TP("in", 3)) == 4
    assert consumer._new_offset(TP("in", 0)) == 10  # 7 and 8 were a gap: committed past them
    assert consumer._new_offset(TP("in", 1)) == 5
    assert consumer._new_offset(held) is None
