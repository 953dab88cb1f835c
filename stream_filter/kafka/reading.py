"""Reading partitions from their beginning to the end they have now: the one way the project
rebuilds something from a compacted topic (listing states, the policy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream_filter.kafka.clients import reader
from stream_filter.settings import Settings


async def read_to_end(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition],
                      handle: Callable[[TopicPartition, ConsumerRecord[bytes, bytes]], None],
                      max_records: int | None = None) -> int:
    """Hand every record of `partitions` from the consumer's position up to the end offsets asked
    now to `handle`, partition by partition; return how many. Records written later are left for
    whoever follows the topic."""
    tps = list(partitions)
    ends = await consumer.end_offsets(tps)
    count = 0
    for tp in tps:
        while await consumer.position(tp) < ends[tp]:
            for records in (await consumer.getmany(tp, timeout_ms=500, max_records=max_records)).values():
                for record in records:
                    if record.offset < ends[tp]:
                        handle(tp, record)
                        count += 1
    return count


async def end_offsets(settings: Settings, topic: str, partitions: list[int]) -> dict[int, int]:
    """The partitions' end offsets now (the offset the next record will get)."""
    if not partitions:
        return {}
    async with reader(settings) as consumer:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    return {tp.partition: offset for tp, offset in ends.items()}
