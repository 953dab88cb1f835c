"""The secured local broker for tests: SASL_SSL with SCRAM, mutual TLS, and ACLs.

Started once per module by the `secure_broker` fixture (tests/conftest.py) with extra listeners
(certificates made at test time, SCRAM users created by Kafka's StorageTool) and an authorizer. It
needs the launcher (Java + Maven), whatever broker the rest of the suite uses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stream_filter.dev import local_kafka
from tests.certs import CertFiles, make_certs

USER, PASSWORD = "stream-filter", "s3cret-Sc4am"
SECURE_PORT = random.Random().randrange(40000, 48000, 4)  # away from the suite's broker and other runs


@dataclass(frozen=True)
class SecureBroker:
    plaintext: str  # a super user's listener: set-up and checks
    sasl_ssl: str
    ssl: str
    certs: CertFiles


def start_secure_broker(base: Path, users: dict[str, str] | None = None,
                        open_without_acls: bool = True) -> Iterator[SecureBroker]:
    """`users`: SCRAM users besides the worker's; `open_without_acls` False: a resource without ACLs is
    closed to every principal but the super user (as production brokers run)."""
    certs = make_certs(base / "certs")
    root = base / "kafka"
    handle = local_kafka.start(SECURE_PORT, root, local_kafka.SecureListeners(
        certs.broker_keystore, certs.ca, {USER: PASSWORD, **(users or {})}, open_without_acls))
    port = int(handle.bootstrap.rsplit(":", 1)[1])
    try:
        yield SecureBroker(handle.bootstrap, f"127.0.0.1:{port + 2}", f"127.0.0.1:{port + 3}", certs)
    finally:
        local_kafka.stop(root)


def sasl_env(broker: SecureBroker, password: str = PASSWORD) -> dict[str, str]:
    return {"STREAM_FILTER_SECURITY_PROTOCOL": "SASL_SSL", "STREAM_FILTER_SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAM_FILTER_SASL_USERNAME": USER, "STREAM_FILTER_SASL_PASSWORD": password,
            "STREAM_FILTER_SSL_CAFILE": str(broker.certs.ca)}
