"""Connection options shared by every aiokafka client of the project, and its short-lived clients.

Secrets stay `SecretStr` until `client_options`, one of the two places that reveal them to a client
(the other is the worker's Faust credentials, built from the same settings).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from stream_filter.settings import Settings

MAX_REQUEST_BYTES = 4_194_304  # the largest record batch a project producer sends


def ssl_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ssl_cafile)
    if settings.ssl_certfile:
        ctx.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    return ctx


def client_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and security options, for any aiokafka client."""
    opts: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers,
                            "security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(settings)
    if settings.sasl_mechanism:
        opts["sasl_mechanism"] = settings.sasl_mechanism
        opts["sasl_plain_username"] = settings.sasl_username
        opts["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return opts


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def one_shot_producer(settings: Settings, **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    """A producer for a one-shot job (publishing a file or a policy): acks from every in-sync replica."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", **options)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@asynccontextmanager
async def reader(settings: Settings, **options: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer outside any group (the caller assigns partitions), never committing."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
