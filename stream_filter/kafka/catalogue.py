"""Building the consumer-model catalogue (`core/catalogue.py`) from the output topics as they are now."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition

from stream_filter.core.catalogue import KINDS, Catalogue
from stream_filter.kafka.clients import admin_client
from stream_filter.kafka.reading import read_from_start
from stream_filter.kafka.topics import partition_count
from stream_filter.settings import Settings


async def read_catalogue(settings: Settings, kinds: tuple[str, ...] = KINDS, keep: tuple[str, ...] = ()) -> Catalogue:
    """Every record of the approved, rejected and review topics (or `kinds`) up to their current ends,
    applied as a consumer would; the latest records of `keep` topics kept."""
    topics = {settings.output_topics()[kind]: kind for kind in kinds}
    catalogue = Catalogue(keep=keep)
    async with admin_client(settings) as admin:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(await partition_count(admin, topic) or 0)]

    def apply(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        catalogue.apply(topics[tp.topic], record.value)

    await read_from_start(settings, tps, apply)
    return catalogue
