"""Adoption reads old changelog partitions only when the partition count grew."""

from __future__ import annotations

import asyncio

from stream_filter.settings import Settings
from stream_filter.state.adopt import adopt
from stream_filter.state.stores import MemoryStore


def test_a_history_that_repeats_the_current_count_reads_nothing() -> None:
    """Histories written before `next_layout` began with the current count twice ([4, 4]): every load
    then read the whole changelog again. No broker answers here, so a read would fail the test."""
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:9", app_id="adopt-test")
    stores = {0: MemoryStore(), 1: MemoryStore()}
    assert asyncio.run(asyncio.wait_for(adopt(settings, stores, 4, [4, 4]), 5)) == []
    assert asyncio.run(asyncio.wait_for(adopt(settings, stores, 4, [4]), 5)) == []
