"""Checks before the worker consumes anything: the topics it needs exist and are fit for the job.

Why refuse rather than run: a listing-state changelog that is missing, not compacted or smaller than
the input makes the worker run with states it cannot trust (withdrawals missed, removals sent to
the wrong topic) and nothing would say so. Each refusal says what to fix. What the worker can fit
itself to, it does: records are kept below the output topics' size limit.
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stream_filter.core.route import Output
from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.output_subjects import NotRegistered, frames
from stream_filter.kafka.schema_registry import RegistryOutage, SchemaRegistry
from stream_filter.kafka.topics import ensure_topics, output_limit, partition_count, topic_configs
from stream_filter.settings import Settings

COORDINATOR_TRIES = 30
COORDINATOR_RETRY_S = 1.0


class PreflightError(RuntimeError):
    """The worker must not start; the message says why and what to do."""


async def preflight(settings: Settings) -> Settings:
    """Create what is missing, verify the changelog, fit the record size; return the settings to run with."""
    created = await ensure_topics(settings)
    state = settings.topic_state()
    async with admin_client(settings) as admin:
        if state in created and await _has_committed(admin, settings):
            raise PreflightError(
                f"the listing-state changelog {state} was missing while consumer group {settings.app_id} has "
                f"committed offsets on {settings.topic_input}: the states of active listings are lost (a deleted "
                f"topic, or a renamed app id). Restore the topic, or rebuild the states by resetting the group to "
                f"the earliest offsets while no worker runs (kafka-consumer-groups --reset-offsets --to-earliest)")
        policy = (await topic_configs(admin, [state]))[state].get("cleanup.policy", "")
        if "compact" not in policy.split(","):
            raise PreflightError(f"the listing-state changelog {state} has cleanup.policy={policy}: it must be "
                                 f"compact (kafka-configs --alter --add-config cleanup.policy=compact), or old "
                                 f"states are deleted by retention")
        inputs, states = await partition_count(admin, settings.topic_input), await partition_count(admin, state)
        if inputs and (states or 0) < inputs:
            raise PreflightError(f"the listing-state changelog {state} has {states} partitions and the input "
                                 f"{inputs}: they must be co-partitioned")
        verdicts = await partition_count(admin, settings.topic_review_verdicts)
        if inputs and verdicts != inputs:
            raise PreflightError(f"the review-verdict topic {settings.topic_review_verdicts} has {verdicts} partitions "
                                 f"and the input {inputs}: verdicts must be co-partitioned with the listings' events "
                                 f"(the same count and key); recreate it with {inputs} partitions")
    limit = await output_limit(settings, settings.max_output_bytes)
    return settings.model_copy(update={"max_output_bytes": limit}) if limit < settings.max_output_bytes else settings


async def output_frames(settings: Settings) -> dict[Output, bytes]:
    """With framed output, each decision output's frame (the schema's id under its subject); else none.
    A schema not registered, or a registry that does not answer, stops the worker before it consumes."""
    if settings.output_format == "json" or not settings.schema_registry_url:
        return {}
    password = settings.schema_registry_password
    registry = SchemaRegistry(settings.schema_registry_url, username=settings.schema_registry_username,
                              password=password.get_secret_value() if password else None)
    try:
        return await frames(registry, settings)
    except (NotRegistered, RegistryOutage) as exc:
        raise PreflightError(f"STREAM_FILTER_OUTPUT_FORMAT=registry: {exc}") from exc
    finally:
        await registry.close()


async def _has_committed(admin: AIOKafkaAdminClient, settings: Settings) -> bool:
    """Whether the group has committed an input offset. A broker that has just started may not have a
    group coordinator yet (retriable errors): asked again, within a bound."""
    for attempt in range(COORDINATOR_TRIES):
        try:
            offsets = await admin.list_consumer_group_offsets(settings.app_id)
            break
        except KafkaError as exc:
            if not exc.retriable or attempt == COORDINATOR_TRIES - 1:
                raise
            await asyncio.sleep(COORDINATOR_RETRY_S)
    return any(tp.topic == settings.topic_input and meta.offset > 0 for tp, meta in offsets.items())
