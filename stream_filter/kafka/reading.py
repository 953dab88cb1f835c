"""Reading partitions from their beginning to the end they have now: the one way the project
rebuilds something from a compacted topic (listing states, the policy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from time import perf_counter

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream_filter.kafka.clients import reader
from stream_filter.settings import Settings

Pace = Callable[[float], Awaitable[None]]  # after each poll's records, given the seconds they took


async def no_pause(seconds: float) -> None:
    await asyncio.sleep(0)  # aiokafka returns prefetched records without yielding: yield once per poll


async def read_to_end(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition],
                      handle: Callable[[TopicPartition, ConsumerRecord[bytes, bytes]], None],
                      max_records: int | None = None, pace: Pace = no_pause) -> int:
    """Hand every record of `partitions` from the consumer's position up to the end offsets asked
    now to `handle`, partition by partition; return how many. Records written later are left for
    whoever follows the topic. `pace` is awaited after each poll (the worker's leaves room for its
    batches while a partition's states load)."""
    tps = list(partitions)
    ends = await consumer.end_offsets(tps)
    count = 0
    for tp in tps:
        while await consumer.position(tp) < ends[tp]:
            polled = await consumer.getmany(tp, timeout_ms=500, max_records=max_records)
            started = perf_counter()
            for records in polled.values():
                for record in records:
                    if record.offset < ends[tp]:
                        handle(tp, record)
                        count += 1
            await pace(perf_counter() - started)
    return count


WHOLE_PARTITION_FETCH_BYTES = 8_388_608  # reading whole partitions: large fetches, fewer round trips
RECORDS_PER_POLL = 5000


async def read_from_start(settings: Settings, partitions: Iterable[TopicPartition],
                          handle: Callable[[TopicPartition, ConsumerRecord[bytes, bytes]], None],
                          start: Mapping[TopicPartition, int] | None = None, pace: Pace = no_pause) -> int:
    """`read_to_end` with a consumer of its own, from each partition's beginning (or its offset in
    `start`); return how many records were handed over."""
    tps = list(partitions)
    if not tps:
        return 0
    async with reader(settings, max_partition_fetch_bytes=WHOLE_PARTITION_FETCH_BYTES) as consumer:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp, offset in (start or {}).items():
            consumer.seek(tp, offset)
        return await read_to_end(consumer, tps, handle, max_records=RECORDS_PER_POLL, pace=pace)


async def end_offsets(settings: Settings, topic: str, partitions: list[int]) -> dict[int, int]:
    """The partitions' end offsets now (the offset the next record will get)."""
    if not partitions:
        return {}
    async with reader(settings) as consumer:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
    return {tp.partition: offset for tp, offset in ends.items()}

