"""The order of Faust's rebalance signals on a real broker, which holding partitions relies on
(`worker/transport.py`, `worker/state_loading.py`; the private names are listed in
`tests/unit/test_upstream_contract.py`): `on_rebalance_complete` arrives once the partitions are
assigned and before Faust resumes fetching them, so partitions held there stay unfetched through
Faust's resume, and fetched again once released.

The worker's own Faust app (`transport.App` with the worker's options) runs in this process, with
no web server and no records: only the group's assignment is asked of the broker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from faust.types import TP

from stream_filter.kafka.topics import ensure_topics
from stream_filter.settings import Settings
from stream_filter.worker.faust_options import faust_options
from stream_filter.worker.transport import App
from tests.support import Names

PARTITIONS = 3
ASSIGNED_WITHIN_S = 60.0  # joining a new group on a shared broker takes a few seconds; generous on CI


def test_partitions_held_at_rebalance_complete_stay_unfetched_until_released(kafka_bootstrap: str,
                                                                              tmp_path: Path) -> None:
    names = Names()
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, app_id=names.app_id, data_dir=str(tmp_path),
                        topic_input=names.topic("new"), topic_partitions=PARTITIONS)
    seen = asyncio.run(_scenario(settings))
    everything = {TP(settings.topic_input, p) for p in range(PARTITIONS)}
    assert seen["assigned"] == everything  # the signal came after the assignment...
    assert seen["flow_resumed_at_signal"] is False  # ...and before Faust resumed fetching
    assert seen["active_after_resume"] == set()  # held through Faust's resume of every partition
    assert seen["flow_resumed_after"] is True
    assert seen["active_after_release"] == everything


async def _scenario(settings: Settings) -> dict[str, Any]:
    await ensure_topics(settings, [settings.topic_input])
    app = App(settings.app_id, fetch_max_wait_ms=100, **{**faust_options(settings), "web_enabled": False})
    app.topics.add(app.topic(settings.topic_input, key_type=bytes, value_type=bytes, key_serializer="raw",
                             value_serializer="raw", partitions=settings.topic_partitions))
    consumer: Any = app.consumer
    seen: dict[str, Any] = {}
    inputs = lambda tps: {tp for tp in tps if tp.topic == settings.topic_input}  # noqa: E731 (Faust's own: leader)
    signalled = asyncio.Event()

    async def on_rebalance_complete(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        assigned = inputs(consumer.assignment())
        if assigned and "assigned" not in seen:
            seen["assigned"], seen["flow_resumed_at_signal"] = assigned, consumer.can_resume_flow.is_set()
            consumer.hold(assigned)
            signalled.set()

    app.on_rebalance_complete.connect(on_rebalance_complete)  # type: ignore[arg-type]
    await app.start()
    try:
        await asyncio.wait_for(signalled.wait(), ASSIGNED_WITHIN_S)
        await asyncio.wait_for(consumer.can_resume_flow.wait(), ASSIGNED_WITHIN_S)  # Faust resumed: the race is over
        await asyncio.sleep(0)
        seen["flow_resumed_after"] = consumer.can_resume_flow.is_set()
        seen["active_after_resume"] = inputs(consumer._get_active_partitions())
        consumer.release(seen["assigned"])
        seen["active_after_release"] = inputs(consumer._get_active_partitions())
    finally:
        await app.stop()
    return seen
