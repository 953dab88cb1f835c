"""The autoscaler's principal on a broker that closes what no ACL opens (as production brokers run):
with the ACLs docs/operations.md gives KEDA (Describe on the input topic and on the worker's group),
it measures the group's lag, and can do nothing more: no read, no write, no commit, no topic made or
deleted, not even a look at the output topics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from aiokafka.structs import OffsetAndMetadata

from stream_filter.kafka.clients import admin_client, client_options
from stream_filter.kafka.publish import publish
from stream_filter.kafka.topics import until_described
from stream_filter.settings import Settings
from stream_filter.worker.lag import LagProbe
from tests.acls import DESCRIBE, GROUP, TOPIC, allow
from tests.secure import SecureBroker, start_secure_broker
from tests.support import Names

KEDA, KEDA_PASSWORD = "keda", "k3da-Sc4am-only"
PARTITIONS, EVENTS, COMMITTED = 4, 40, 5


@pytest.fixture(scope="module")
def strict_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    yield from start_secure_broker(tmp_path_factory.mktemp("strict"), {KEDA: KEDA_PASSWORD}, open_without_acls=False)


def _keda(broker: SecureBroker, names: Names) -> Settings:
    return names.settings(broker.sasl_ssl, STREAM_FILTER_SECURITY_PROTOCOL="SASL_SSL",
                          STREAM_FILTER_SASL_MECHANISM="SCRAM-SHA-512", STREAM_FILTER_SASL_USERNAME=KEDA,
                          STREAM_FILTER_SASL_PASSWORD=KEDA_PASSWORD, STREAM_FILTER_SSL_CAFILE=str(broker.certs.ca))


async def _prepare(admin_settings: Settings, names: Names) -> None:
    """As the super user: the topics, events on the input, and offsets committed by the worker's group."""
    async with admin_client(admin_settings) as admin:
        await admin.create_topics([NewTopic(names.topic(t), PARTITIONS, 1) for t in ("new", "approved")])
        await until_described(admin, [names.topic("new"), names.topic("approved")])
    await publish(admin_settings, [(f"L-{i}".encode(), b"{}") for i in range(EVENTS)])
    consumer = AIOKafkaConsumer(**client_options(admin_settings), group_id=names.app_id, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(names.topic("new"), p) for p in range(PARTITIONS)])
        await consumer.commit({TopicPartition(names.topic("new"), p): OffsetAndMetadata(COMMITTED, "")
                               for p in range(PARTITIONS)})
    finally:
        await consumer.stop()


async def _refused(attempt: Callable[[], Awaitable[Any]]) -> BaseException | None:
    try:
        await asyncio.wait_for(attempt(), 20)
    except (TimeoutError, KafkaError) as exc:
        return exc
    return None


def test_the_autoscaler_can_describe_and_do_nothing_more(strict_broker: SecureBroker) -> None:
    names = Names()
    asyncio.run(_prepare(names.settings(strict_broker.plaintext), names))
    allow(strict_broker.plaintext, KEDA, TOPIC, names.topic("new"), DESCRIBE)  # docs/operations.md, KEDA's row
    allow(strict_broker.plaintext, KEDA, GROUP, names.app_id, DESCRIBE)
    keda = _keda(strict_broker, names)

    async def lag() -> dict[int, int]:
        probe = LagProbe(keda)  # what KEDA's Kafka scaler asks: end offsets and the group's committed offsets
        try:
            return await probe.measure()
        finally:
            await probe.close()

    assert asyncio.run(lag()) == {p: max(0, n - COMMITTED) for p, n in _ends(strict_broker, names).items()}

    async def write() -> None:
        producer = AIOKafkaProducer(**client_options(keda), acks="all")
        await producer.start()
        try:
            await (await producer.send(names.topic("new"), b"forged", key=b"L-1"))
        finally:
            await producer.stop()

    async def read() -> None:
        consumer = AIOKafkaConsumer(**client_options(keda), group_id=None)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(names.topic("new"), 0)])
            consumer.seek(TopicPartition(names.topic("new"), 0), 0)
            await consumer.getmany(timeout_ms=5000)
            await consumer.getone()
        finally:
            await consumer.stop()

    async def commit() -> None:
        consumer = AIOKafkaConsumer(**client_options(keda), group_id=names.app_id, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(names.topic("new"), 0)])
            await consumer.commit({TopicPartition(names.topic("new"), 0): OffsetAndMetadata(EVENTS, "")})
        finally:
            await consumer.stop()

    async def create() -> None:
        async with admin_client(keda) as admin:
            response = await admin.create_topics([NewTopic(names.topic("keda-made"), 1, 1)])
            _raise_codes(response.topic_errors)

    async def delete() -> None:
        async with admin_client(keda) as admin:
            response = await admin.delete_topics([names.topic("new")])
            _raise_codes(response.topic_error_codes)

    async def describe_output() -> None:
        async with admin_client(keda) as admin:
            described = await admin.describe_topics([names.topic("approved")])
            if described[0]["error_code"]:
                raise TopicAuthorizationFailedError(described[0]["error_code"])

    refusals = {name: asyncio.run(_refused(attempt)) for name, attempt in
                (("write", write), ("read", read), ("commit", commit), ("create", create), ("delete", delete),
                 ("describe an output", describe_output))}
    assert {k: type(v).__name__ for k, v in refusals.items()} == {
        "write": "TopicAuthorizationFailedError", "read": "TopicAuthorizationFailedError",
        "commit": "GroupAuthorizationFailedError", "create": "TopicAuthorizationFailedError",
        "delete": "TopicAuthorizationFailedError", "describe an output": "TopicAuthorizationFailedError"}
    assert _ends(strict_broker, names) == asyncio.run(_ends_async(names.settings(strict_broker.plaintext), names))
    assert sum(_ends(strict_broker, names).values()) == EVENTS  # nothing was written


def _raise_codes(errors: Any) -> None:
    codes = [e[1] for e in errors if e[1]]
    if codes == [TopicAuthorizationFailedError.errno]:
        raise TopicAuthorizationFailedError()
    if codes:
        raise KafkaError(f"refused with error codes {codes}")


def _ends(broker: SecureBroker, names: Names) -> dict[int, int]:
    return asyncio.run(_ends_async(names.settings(broker.plaintext), names))


async def _ends_async(settings: Settings, names: Names) -> dict[int, int]:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(names.topic("new"), p) for p in range(PARTITIONS)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
