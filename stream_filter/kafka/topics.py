"""Creating the project's topics when they are missing.

Why here and not in Faust: the worker creates every topic it writes before it starts (Faust would
create them lazily, on first send, with its own defaults), and the one-shot commands need them too.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from stream_filter.kafka.clients import admin_client
from stream_filter.settings import Settings

COMPACT = {"cleanup.policy": "compact"}  # topics that keep the latest record per key (state, policy)


async def create_missing(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> list[str]:
    """Create the topics that do not exist yet; return their names. A topic another client created
    between our look and our request is fine."""
    existing = set(await admin.list_topics())
    new = [t for t in topics if t.name not in existing]
    if new:
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass
    return [t.name for t in new]


async def partition_count(admin: AIOKafkaAdminClient, topic: str) -> int | None:
    described = await admin.describe_topics([topic])
    return len(described[0]["partitions"]) if described and described[0].get("partitions") else None


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create the input, output and state topics that are missing; return the names created."""
    state = settings.topic_state()
    wanted = list(names or [settings.topic_input, *settings.output_topics().values(), settings.topic_shadow_diff,
                            state])
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        # the state changelog is co-partitioned with the input: as many partitions, whatever exists
        input_parts = await partition_count(admin, settings.topic_input) if settings.topic_input in existing else None
        if state in existing and state in wanted and input_parts:
            if (await partition_count(admin, state) or 0) < input_parts:
                await admin.create_partitions({state: NewPartitions(input_parts)})
        return await create_missing(admin, [
            NewTopic(n, (input_parts or settings.topic_partitions) if n == state else settings.topic_partitions,
                     settings.topic_replication, topic_configs=COMPACT if n == state else {})
            for n in wanted if n not in existing])


async def ensure_policy_topic(settings: Settings) -> None:
    """The policy topic: one partition (one order for every publish), compacted."""
    async with admin_client(settings) as admin:
        await create_missing(admin, [NewTopic(settings.topic_policy, 1, settings.topic_replication,
                                              topic_configs=COMPACT)])
