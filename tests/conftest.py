"""Where the broker for integration and e2e tests comes from, in this order:

1. `KAFKA_BOOTSTRAP_SERVERS`, if set: an external broker (CI with a service, a developer's cluster);
2. testcontainers' Kafka container, if a Docker daemon answers;
3. the local launcher (`stream_filter.dev.local_kafka`): Apache Kafka jars from Maven Central, KRaft.

No test that needs a broker is ever skipped: when none can be had the session fails with the reason.
Tests share one broker and isolate themselves with unique topic and group names (see support.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.secure import SecureBroker, start_secure_broker

KAFKA_IMAGE = "apache/kafka:4.1.1"  # same version as stream_filter/dev/kafka/pom.xml


def _docker_answers() -> bool:
    """A daemon that answers /_ping on its socket (DOCKER_HOST unix:// or the default path)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return False  # remote daemons: set KAFKA_BOOTSTRAP_SERVERS instead
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and b" 200" in status_line
    except OSError:
        return False


@pytest.fixture(scope="session")
def restart_broker(kafka_bootstrap: str) -> Callable[[], None] | None:
    """Restarts the broker on the same data, when it is the local launcher's; None otherwise."""
    from stream_filter.dev import local_kafka

    handle = local_kafka.running()
    if handle is None or handle.bootstrap != kafka_bootstrap:
        return None
    def restart() -> None:
        local_kafka.restart()

    return restart


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from stream_filter.dev import local_kafka

    try:
        handle = local_kafka.start()
    except local_kafka.LauncherError as exc:
        pytest.fail(f"no Kafka broker: KAFKA_BOOTSTRAP_SERVERS unset, no Docker daemon, local launcher failed: {exc}")
    try:
        yield handle.bootstrap
    finally:
        if handle.started_here and not os.environ.get("STREAM_FILTER_KEEP_KAFKA"):
            local_kafka.stop()


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[str]:
    """A real Confluent-compatible schema registry: `SCHEMA_REGISTRY_URL` if set, else the local
    launcher's (Apicurio Registry from Maven Central, `make registry`)."""
    external = os.environ.get("SCHEMA_REGISTRY_URL")
    if external:
        yield external
        return
    from stream_filter.dev import local_kafka, local_registry

    try:
        handle = local_registry.start()
    except local_kafka.LauncherError as exc:
        pytest.fail(f"no schema registry: SCHEMA_REGISTRY_URL unset, local launcher failed: {exc}")
    try:
        yield handle.url
    finally:
        if handle.started_here and not os.environ.get("STREAM_FILTER_KEEP_KAFKA"):
            local_registry.stop()


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A second local broker with secured listeners and ACLs, for the modules that need it; stopped
    after each, so it is not running (and holding connections) while other tests restart theirs."""
    yield from start_secure_broker(tmp_path_factory.mktemp("secure"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every integration and e2e test needs the broker: `pytest -m "not broker"` runs the rest."""
    for item in items:
        if {"integration", "e2e"} & set(item.path.parts):
            item.add_marker(pytest.mark.broker)
