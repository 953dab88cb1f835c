"""The worker's Faust app builds its input consumer with the fetch wait from Settings."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from stream_filter.settings import Settings
from stream_filter.worker.faust_options import faust_options
from stream_filter.worker.transport import App


def test_the_consumer_faust_builds_carries_the_fetch_wait() -> None:
    async def built(wait_ms: int) -> int:
        settings = Settings(app_id=f"transport-{wait_ms}")
        app = App(settings.app_id, fetch_max_wait_ms=wait_ms, **faust_options(settings))
        thread = app.consumer._thread
        client = thread._create_worker_consumer(app.transport)  # what start() will start
        try:
            return int(client._fetch_max_wait_ms)
        finally:
            await client.stop()  # never started: closes its client
            thread.thread_loop.close()  # made for the consumer thread, which never ran

    assert asyncio.run(built(100)) == 100
    assert asyncio.run(built(1500)) == 1500


def test_held_partitions_stay_unfetched_through_what_faust_does_until_released(monkeypatch: Any) -> None:
    settings = Settings(app_id="transport-held")
    app = App(settings.app_id, fetch_max_wait_ms=100, **faust_options(settings))
    consumer: Any = app.consumer
    try:
        _hold_and_release(consumer, monkeypatch)
    finally:
        consumer._thread.thread_loop.close()  # made for the consumer thread, which never ran


def _hold_and_release(consumer: Any, monkeypatch: Any) -> None:
    first, second = TP("in", 0), TP("in", 1)
    monkeypatch.setattr(consumer, "assignment", lambda: {first, second})
    consumer._set_active_tps({first, second})
    consumer.hold({second})
    assert consumer._get_active_partitions() == {first}
    consumer.pause_partitions({first, second})  # a rebalance pauses every assigned partition...
    consumer.resume_partitions({first, second})  # ...and Faust's recovery resumes them all
    assert consumer._get_active_partitions() == {first}
    assert consumer._set_active_tps({first, second}) == {first}
    consumer._buffered_partitions.add(second)
    consumer.on_buffer_drop(second)  # a drained stream buffer re-adds its partition
    assert consumer._get_active_partitions() == {first}
    consumer.pause_partitions({second})
    consumer.release({second})  # paused by Faust meanwhile: its resume brings it back, not the release
    assert consumer._get_active_partitions() == {first}
    consumer.resume_partitions({second})
    assert consumer._get_active_partitions() == {first, second} and consumer.held == set()
    consumer.hold({second})
    monkeypatch.setattr(consumer, "assignment", lambda: {first})
    consumer.release({second})  # revoked meanwhile: not fetched again
    assert consumer._get_active_partitions() == {first}
