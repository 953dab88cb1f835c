"""Publishing records from a one-shot job (a file of listings, a policy) with acks from every replica."""

from __future__ import annotations

from collections.abc import Iterable

from stream_filter.kafka.clients import MAX_REQUEST_BYTES, one_shot_producer
from stream_filter.settings import Settings


async def publish(settings: Settings, records: Iterable[tuple[bytes | None, bytes]], topic: str | None = None,
                  partition: int | None = None) -> int:
    """Publish (key, value) records in order; return how many the broker acknowledged. `partition`:
    all of them there (None: by key, murmur2)."""
    async with one_shot_producer(settings, linger_ms=5, max_request_size=MAX_REQUEST_BYTES) as producer:
        futures = [await producer.send(topic or settings.topic_input, value=value, key=key, partition=partition)
                   for key, value in records]
        for fut in futures:
            await fut
        return len(futures)
