"""Send a batch of output records as one Kafka record batch per topic partition.

Why: the per-record send path (Faust's, or aiokafka's `send()`) costs a future, a callback and an
accumulator step per record, and waiting for a 500-event batch meant gathering a thousand futures.
Here the records are split by destination partition (the same murmur2 partitioner the per-record
path uses, so a key lands on the same partition either way), appended to aiokafka's `BatchBuilder`,
and each builder is submitted once: one delivery future per partition and batch. Order within a
partition is the order of the input. The producer is the worker's own (acks=all); the caller waits
for every future before the input batch's offsets may be committed (`delivery.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerClosed
from aiokafka.partitioner import DefaultPartitioner

from stream_filter.core.route import Output, Routed
from stream_filter.kafka.partitioning import partition_for


def wire_value(routed: Routed, frames: Mapping[Output, bytes]) -> bytes | None:
    """The record's value as sent: framed for the schema registry when its output is (states, replays
    and the catalogue keep the plain JSON; readers take both: core/framing.strip_frame)."""
    prefix = frames.get(routed.output)
    return prefix + routed.value if prefix is not None and routed.value is not None else routed.value


BATCH_BYTES = 512 * 1024  # below the broker's default 1 MB message limit, with room for overhead
_partitioner = DefaultPartitioner()


def output_producer(options: Mapping[str, Any]) -> AIOKafkaProducer:
    """The producer for batches: acks from every in-sync replica, no linger (batches are built here)."""
    return AIOKafkaProducer(**options, acks="all", linger_ms=0, max_batch_size=BATCH_BYTES,
                            max_request_size=4 * BATCH_BYTES, enable_idempotence=False)


class RecordBatches:
    def __init__(self, options: Mapping[str, Any], topics: Mapping[Output, str],
                 frames: Mapping[Output, bytes] | None = None) -> None:
        self.options, self.topics = options, topics
        self.frames = frames or {}  # framed output: the schema-registry frame per decision output
        self._producer: AIOKafkaProducer | None = None  # started on first use, again after a failed start
        self._closed = False  # stopped for good: the per-record path takes over

    async def _started(self) -> AIOKafkaProducer:
        if self._closed:
            raise ProducerClosed()
        if self._producer is None:
            producer = output_producer(self.options)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def stop(self) -> None:
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, records: Sequence[Routed]) -> list[BaseException | None]:
        """Submit every record; return, per record, the error of its batch (None: delivered).

        Never raises: an error before or during the submission is the outcome of the records concerned.
        """
        try:
            producer = await self._started()
        except Exception as exc:  # noqa: BLE001 - every record fails alike; the caller retries them
            return [exc] * len(records)
        outcomes: list[BaseException | None] = [None] * len(records)
        by_partition: dict[tuple[str, int], list[int]] = {}
        layout: dict[str, tuple[list[int], list[int]]] = {}  # topic -> (all, available) partitions
        for i, routed in enumerate(records):
            try:
                topic = self.topics[routed.output]
                partition = routed.partition
                if partition is None:
                    if topic not in layout:
                        every = sorted(await producer.partitions_for(topic))
                        up = producer.client.cluster.available_partitions_for_topic(topic)
                        layout[topic] = (every, sorted(up) if up else every)
                    every, up = layout[topic]
                    # as AIOKafkaProducer.send() picks (DefaultPartitioner), with the faster murmur2
                    partition = (every[partition_for(routed.key, len(every))] if routed.key is not None
                                 else _partitioner(None, every, up))
                by_partition.setdefault((topic, partition), []).append(i)
            except Exception as exc:  # noqa: BLE001 - the record's outcome, handled by the caller
                outcomes[i] = exc
        waits: list[tuple[list[int], Any]] = []
        for (topic, partition), indexes in by_partition.items():
            start = 0
            while start < len(indexes):
                builder, taken = producer.create_batch(), 0
                try:
                    for i in indexes[start:]:
                        r = records[i]
                        # None: full (the first record always fits, however large; the broker may refuse it)
                        value = wire_value(r, self.frames)
                        if builder.append(timestamp=None, key=r.key, value=value, headers=r.headers) is None:
                            break
                        taken += 1
                    chunk = indexes[start : start + taken]
                    waits.append((chunk, await producer.send_batch(builder, topic, partition=partition)))
                except Exception as exc:  # noqa: BLE001 - see docstring; the rest of this partition fails too
                    for i in indexes[start:]:
                        outcomes[i] = exc
                    break
                start += taken
        results = await asyncio.gather(*(future for _, future in waits), return_exceptions=True)
        for (chunk, _), result in zip(waits, results, strict=True):
            if isinstance(result, BaseException):
                for i in chunk:
                    outcomes[i] = result
        return outcomes
