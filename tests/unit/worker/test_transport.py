"""The worker's Faust app builds its input consumer with the fetch wait from Settings."""

from __future__ import annotations

import asyncio

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
