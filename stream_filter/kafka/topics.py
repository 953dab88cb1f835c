"""Creating the project's topics when they are missing.

Why here and not in Faust: the worker creates every topic it writes before it starts (Faust would
create them lazily, on first send, with its own defaults), and the one-shot commands need them too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import orjson
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code

from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.publish import publish
from stream_filter.kafka.reading import read_from_start
from stream_filter.settings import Settings

RECORD_OVERHEAD_BYTES = 512  # a record batch's header, the record's key and headers
COMPACT = {"cleanup.policy": "compact"}  # topics that keep the latest record per key (state, policy, layout)
LAYOUT_KEY = b"partition-counts"


CREATED_WITHIN_S = 30.0  # a created topic reaches the broker's metadata in well under a second


async def create_missing(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> list[str]:
    """Create the topics that do not exist yet and wait until the broker's metadata shows them with
    a leader for every partition; return their names. A topic another client created between our
    look and our request is fine. Why wait: a client that reads a topic the metadata does not show
    yet logs an error per metadata refresh ("not found in cluster metadata") until it does."""
    existing = set(await admin.list_topics())
    new = [t for t in topics if t.name not in existing]
    if new:
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass
        await until_described(admin, [t.name for t in new])
    return [t.name for t in new]


async def until_described(admin: AIOKafkaAdminClient, names: list[str], within_s: float = CREATED_WITHIN_S) -> None:
    """Ask the broker until every topic in `names` has partitions, each with a leader."""
    pending, deadline = set(names), asyncio.get_running_loop().time() + within_s
    while pending:
        for topic in await admin.describe_topics(sorted(pending)):
            partitions = topic.get("partitions") or []
            if not topic.get("error_code") and partitions and all(p["leader"] >= 0 for p in partitions):
                pending.discard(topic["topic"])
        if pending:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics {sorted(pending)} created but not in the broker's metadata "
                                   f"after {within_s:.0f} s")
            await asyncio.sleep(0.05)


async def grow_to(admin: AIOKafkaAdminClient, topic: str, count: int, within_s: float = CREATED_WITHIN_S) -> None:
    """Give `topic` `count` partitions and ask the broker until it describes them: a broker's metadata
    lags the controller's for a moment, and a check right after (preflight's) must not read the old count."""
    await admin.create_partitions({topic: NewPartitions(count)})
    deadline = asyncio.get_running_loop().time() + within_s
    while (await partition_count(admin, topic) or 0) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{topic} grown to {count} partitions but not described so after {within_s:.0f} s")
        await asyncio.sleep(0.05)


async def partition_count(admin: AIOKafkaAdminClient, topic: str) -> int | None:
    described = await admin.describe_topics([topic])
    return len(described[0]["partitions"]) if described and described[0].get("partitions") else None


async def write_problem(settings: Settings, topic: str, timeout_s: float = 5.0) -> str | None:
    """Why `topic` cannot be written, as the broker tells it (missing, or not even describable); None
    when it looks writable or the broker cannot be asked (broker trouble: retried, not a verdict)."""
    try:
        async with asyncio.timeout(timeout_s), admin_client(settings) as admin:
            described = await admin.describe_topics([topic])
    except Exception:  # noqa: BLE001 - see docstring
        return None
    code = described[0].get("error_code", 0) if described else 0
    if code == UnknownTopicOrPartitionError.errno:
        return "the topic does not exist"
    return f"{for_code(code).__name__} on describing the topic" if code else None


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create the input, output and state topics that are missing; return the names created."""
    state = settings.topic_state()
    wanted = list(names or [settings.topic_input, *settings.output_topics().values(), settings.topic_shadow_diff,
                            state, settings.topic_review_verdicts])
    copartitioned = (state, settings.topic_review_verdicts)
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        # the state changelog is co-partitioned with the input: as many partitions, whatever exists
        input_parts = await partition_count(admin, settings.topic_input) if settings.topic_input in existing else None
        created = await create_missing(admin, [
            NewTopic(n, (input_parts or settings.topic_partitions) if n in copartitioned else settings.topic_partitions,
                     settings.topic_replication, topic_configs=COMPACT if n == state else {})
            for n in wanted if n not in existing])
    if state in wanted and settings.topic_input in [*existing, *created]:
        await grow_changelog(settings)  # an input grown since: the one place the changelog grows, with its history
    return created


async def ensure_policy_topic(settings: Settings) -> None:
    """The policy topic: one partition (one order for every publish), compacted."""
    async with admin_client(settings) as admin:
        await create_missing(admin, [NewTopic(settings.topic_policy, 1, settings.topic_replication,
                                              topic_configs=COMPACT)])


async def topic_configs(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configuration as the broker reports it (defaults included)."""
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


async def output_limit(settings: Settings, wanted: int) -> int:
    """The largest record the worker may send: `wanted`, or less where an output or state topic accepts
    less (`max.message.bytes`, less room for the batch's overhead)."""
    topics = [*settings.output_topics().values(), settings.topic_state()]
    async with admin_client(settings) as admin:
        configs = await topic_configs(admin, topics)
    limits = [int(c["max.message.bytes"]) - RECORD_OVERHEAD_BYTES for c in configs.values()
              if c.get("max.message.bytes", "").isdigit()]
    return min([wanted, *limits])


async def grow_changelog(settings: Settings) -> list[int]:
    """Give the changelog (and the verdict topic) as many partitions as the input has now, and return the history of its
    partition counts (oldest first), kept on the layout topic: partitions added to the input move
    listings to other partitions, whose states are adopted from the old ones (`state/adopt.py`)."""
    state, layout = settings.topic_state(), settings.topic_state_layout()
    async with admin_client(settings) as admin:
        await create_missing(admin, [NewTopic(layout, 1, settings.topic_replication, topic_configs=COMPACT)])
        inputs = await partition_count(admin, settings.topic_input) or settings.topic_partitions
        states = await partition_count(admin, state) or 0
        history = await _read_layout(settings)
        if 0 < states < inputs:  # 0: created a moment ago and not in the metadata yet (with the input's count)
            await grow_to(admin, state, inputs)
        verdicts = await partition_count(admin, settings.topic_review_verdicts) or 0
        if 0 < verdicts < inputs:  # verdicts are keyed like the listings' events: the same partitions
            await grow_to(admin, settings.topic_review_verdicts, inputs)
        grown = next_layout(history, states, inputs)
        if grown != history:
            await publish(settings, [(LAYOUT_KEY, orjson.dumps({"counts": grown}))], layout)
    return grown


def next_layout(history: list[int], states: int, inputs: int) -> list[int]:
    """The history of changelog partition counts once the changelog has `max(states, inputs)`.
    A changelog found without a history (made before histories were kept) starts it with its own
    count only if that count is changing now: an entry equal to the current count would send every
    load to read the whole changelog for states to adopt, finding none."""
    target = max(states, inputs)
    if not history:
        history = [states] if 0 < states < target else []
    return history if history and history[-1] == target else [*history, target]


async def _read_layout(settings: Settings) -> list[int]:
    found: list[int] = []

    def keep(_: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key == LAYOUT_KEY and record.value:
            found[:] = orjson.loads(record.value)["counts"]

    await read_from_start(settings, [TopicPartition(settings.topic_state_layout(), 0)], keep)
    return found
