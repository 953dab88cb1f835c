"""Consumer lag of the worker's group, per input partition, asked of the broker.

Why ask the broker: Faust's own committed-offset bookkeeping is internal and off by one; the
broker's committed offsets and end offsets are what `kafka-consumer-groups` shows ops. Every worker
reports the whole group's lag for every input partition; dashboards aggregate with `max`.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream_filter.kafka.clients import client_options
from stream_filter.kafka.topics import partition_count
from stream_filter.settings import Settings


class LagProbe:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: Any = None

    async def measure(self) -> dict[int, int]:
        """Partition -> end offset minus committed offset (the end offset when nothing is committed)."""
        if self._admin is None:
            admin = AIOKafkaAdminClient(**client_options(self.settings))
            consumer = AIOKafkaConsumer(**client_options(self.settings), group_id=None)
            try:
                await admin.start()
                await consumer.start()
            except Exception:
                await consumer.stop()
                await admin.close()
                raise  # counted by the caller; the next probe starts from scratch
            self._admin, self._consumer = admin, consumer
        topic = self.settings.topic_input
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:  # not in the consumer's metadata yet: the admin client asks the broker
            partitions = set(range(await partition_count(self._admin, topic) or 0))
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = await self._consumer.end_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(self.settings.app_id, partitions=tps)
        lag = {}
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[tp.partition] = max(0, ends[tp] - done)
        return lag

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
