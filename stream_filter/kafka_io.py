"""Plain aiokafka helpers for the edges: create topics, publish a file, read topics back.

Why not Faust here: creating topics and publishing a file are one-shot jobs; a Faust app would add
a consumer group and a web server for nothing. The worker calls `ensure_topics` before it starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from stream_filter.security import ssl_context
from stream_filter.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every aiokafka client of the project."""
    opts: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers,
                            "security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(settings)
    if settings.sasl_mechanism:
        opts["sasl_mechanism"] = settings.sasl_mechanism
        opts["sasl_plain_username"] = settings.sasl_username
        opts["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return opts


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create the input, output and state topics that are missing; return the names created."""
    wanted = list(names or [settings.topic_input, *settings.output_topics().values(), settings.topic_shadow_diff,
                            settings.topic_state()])
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        # the state changelog is co-partitioned with the input: as many partitions, whatever exists
        input_parts = await _partition_count(admin, settings.topic_input) if settings.topic_input in existing else None
        state_parts = input_parts or settings.topic_partitions
        if settings.topic_state() in existing and settings.topic_state() in wanted and input_parts:
            if (await _partition_count(admin, settings.topic_state()) or 0) < input_parts:
                await admin.create_partitions({settings.topic_state(): NewPartitions(input_parts)})
        if missing:
            compact = {"cleanup.policy": "compact"}  # the state changelog keeps the latest record per listing
            new = [NewTopic(n, state_parts if n == settings.topic_state() else settings.topic_partitions,
                            settings.topic_replication, topic_configs=compact if n == settings.topic_state() else {})
                   for n in missing]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and create: fine
        return missing
    finally:
        await admin.close()


async def _partition_count(admin: AIOKafkaAdminClient, topic: str) -> int | None:
    described = await admin.describe_topics([topic])
    return len(described[0]["partitions"]) if described and described[0].get("partitions") else None


async def publish(settings: Settings, records: Iterable[tuple[bytes | None, bytes]], topic: str | None = None) -> int:
    """Publish (key, value) records with acks=all; returns how many the broker acknowledged."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5, max_request_size=4_194_304)
    await producer.start()
    try:
        futures = [await producer.send(topic or settings.topic_input, value=value, key=key)
                   for key, value in records]
        for fut in futures:
            await fut
        return len(futures)
    finally:
        await producer.stop()
