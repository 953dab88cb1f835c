"""Kafka ACLs for tests that revoke and restore a permission on the secured local broker.

aiokafka's admin client has no ACL calls, but it carries the CreateAcls and DeleteAcls requests of
the protocol; they are sent here over the broker's plaintext listener, whose principal is a super
user (dev/broker_config.py).
"""

from __future__ import annotations

import asyncio

from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

from stream_filter.kafka.clients import admin_client
from stream_filter.settings import Settings

TOPIC, GROUP, LITERAL = 2, 3, 3  # resource types, pattern type
READ, WRITE, DESCRIBE = 3, 4, 8  # operations
DENY, ALLOW = 2, 3  # permission types


async def _send(bootstrap: str, request: CreateAclsRequest | DeleteAclsRequest) -> None:
    async with admin_client(Settings(kafka_bootstrap_servers=bootstrap)) as admin:
        response = await admin._send_request(request)  # the protocol's request: see module docstring
    results = getattr(response, "creation_responses", None) or getattr(response, "filter_responses", [])
    errors = [r for r in results if r[0]]
    assert not errors, errors


def allow(bootstrap: str, user: str, resource_type: int, name: str, operation: int) -> None:
    """An ALLOW ACL for `user` on one resource (literal name), as `kafka-acls.sh --add --allow-principal`."""
    asyncio.run(_send(bootstrap, CreateAclsRequest(resource_type, name, LITERAL, f"User:{user}", "*", operation,
                                                   ALLOW)))


def revoke_write(bootstrap: str, user: str, topic: str) -> None:
    """`user` may still see the topic (so the client learns why), but not write to it."""
    principal = f"User:{user}"
    asyncio.run(_send(bootstrap, CreateAclsRequest(TOPIC, topic, LITERAL, principal, "*", DESCRIBE, ALLOW)))
    asyncio.run(_send(bootstrap, CreateAclsRequest(TOPIC, topic, LITERAL, principal, "*", WRITE, DENY)))


def restore_write(bootstrap: str, user: str, topic: str) -> None:
    """Both ACLs go: with any ACL left on the topic, "allow everyone if no ACL" no longer applies to it."""
    principal = f"User:{user}"
    asyncio.run(_send(bootstrap, DeleteAclsRequest(TOPIC, topic, LITERAL, principal, "*", WRITE, DENY)))
    asyncio.run(_send(bootstrap, DeleteAclsRequest(TOPIC, topic, LITERAL, principal, "*", DESCRIBE, ALLOW)))
