"""Batched output (record_batches.py) on a real broker: partitions, order, and per-batch failures."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from stream_filter.core.route import Output, Routed
from stream_filter.kafka.record_batches import RecordBatches
from tests.support import Names, drain


async def _create(bootstrap: str, topics: list[NewTopic]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(topics)
    finally:
        await admin.close()


async def _send(bootstrap: str, topics: dict[Output, str], records: list[Routed]) -> list[BaseException | None]:
    batches = RecordBatches({"bootstrap_servers": bootstrap}, topics)
    try:
        return await batches.send(records)
    finally:
        await batches.stop()


def test_keys_land_where_the_per_record_partitioner_puts_them_in_order(kafka_bootstrap: str) -> None:
    names = Names()
    approved, state = names.topic("approved"), names.topic("state")
    asyncio.run(_create(kafka_bootstrap, [NewTopic(approved, 4, 1), NewTopic(state, 4, 1)]))
    records = [Routed(Output.APPROVED, f"L{i % 37}".encode(), f"v{i}".encode(), [("n", str(i).encode())])
               for i in range(3000)]
    records += [Routed(Output.STATE, f"L{i}".encode(), b"s", [], partition=i % 4) for i in range(8)]
    outcomes = asyncio.run(_send(kafka_bootstrap, {Output.APPROVED: approved, Output.STATE: state}, records))
    assert outcomes == [None] * len(records)
    got = drain(kafka_bootstrap, [approved, state], len(records), timeout_s=30)
    assert len(got) == len(records)
    on_approved = [r for r in got if r.topic == approved]
    for key in {r.key for r in records if r.output is Output.APPROVED}:
        mine = [r for r in on_approved if r.key == key]
        assert {r.partition for r in mine} == {DefaultPartitioner()(key, [0, 1, 2, 3], [0, 1, 2, 3])}
        assert [r.value for r in mine] == [r.value for r in records if r.key == key and r.output is Output.APPROVED]
        assert all(r.headers["n"] == r.value[1:] for r in mine)
    assert sorted((r.key, r.partition) for r in got if r.topic == state) == sorted(
        (f"L{i}".encode(), i % 4) for i in range(8))


def test_a_refused_batch_fails_only_its_own_records(kafka_bootstrap: str) -> None:
    """A record over the topic's size limit fails with its batch; batches of other partitions go through."""
    names = Names()
    small, roomy = names.topic("small"), names.topic("roomy")
    asyncio.run(_create(kafka_bootstrap, [NewTopic(small, 1, 1, topic_configs={"max.message.bytes": "3000"}),
                                          NewTopic(roomy, 2, 1)]))
    records = [Routed(Output.REJECTED, b"big", b"x" * 10_000, []),
               *(Routed(Output.APPROVED, f"k{i}".encode(), b"ok", []) for i in range(20))]
    outcomes = asyncio.run(_send(kafka_bootstrap, {Output.REJECTED: small, Output.APPROVED: roomy}, records))
    assert isinstance(outcomes[0], MessageSizeTooLargeError)
    assert outcomes[1:] == [None] * 20
    assert len(drain(kafka_bootstrap, [roomy], 20, timeout_s=30)) == 20


def test_an_unreachable_broker_fails_every_record_without_raising() -> None:
    records = [Routed(Output.APPROVED, b"k", b"v", [])]
    outcomes = asyncio.run(_send("127.0.0.1:1", {Output.APPROVED: "nowhere"}, records))
    assert len(outcomes) == 1 and isinstance(outcomes[0], Exception)


def test_bad_records_and_a_stopped_sender_fail_without_raising(kafka_bootstrap: str) -> None:
    names = Names()
    topic = names.topic("approved")
    asyncio.run(_create(kafka_bootstrap, [NewTopic(topic, 1, 1)]))

    async def scenario() -> tuple[list[BaseException | None], list[BaseException | None]]:
        batches = RecordBatches({"bootstrap_servers": kafka_bootstrap}, {Output.APPROVED: topic})
        bad = [Routed(Output.APPROVED, b"k", b"v", [("h", "not bytes")])]  # type: ignore[list-item]
        first = await batches.send(bad)
        await batches.stop()
        return first, await batches.send([Routed(Output.APPROVED, b"k", b"v", [])])

    bad, after_stop = asyncio.run(scenario())
    assert len(bad) == 1 and isinstance(bad[0], Exception)
    assert len(after_stop) == 1 and type(after_stop[0]).__name__ == "ProducerClosed"
