"""The local broker's configuration: KRaft combined mode on loopback, and optional secured listeners.

Kept apart from the launcher (`local_kafka.py`) so the process handling and the broker settings each
stay small; both are for development and tests only, never for production brokers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SecureListeners:
    """Extra listeners for security tests: SASL_SSL with SCRAM users, and SSL with client certificates.

    `keystore` is a PEM file with the broker's private key and certificate chain; `truststore` the CA.
    Users are created by Kafka's own StorageTool (`--add-scram`) when the storage is formatted.
    """

    keystore: Path
    truststore: Path
    scram_users: dict[str, str]  # name -> password, created for SCRAM-SHA-256 and SCRAM-SHA-512
    open_without_acls: bool = True  # False: as production brokers run, a resource without ACLs is closed

    def properties(self) -> list[str]:
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return [
            "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
            f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={jaas}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            "ssl.keystore.type=PEM", f"ssl.keystore.location={self.keystore}",
            "ssl.truststore.type=PEM", f"ssl.truststore.location={self.truststore}",
            "listener.name.ssl.ssl.client.auth=required",
            # ACLs, for tests that revoke a permission: the plaintext and controller listeners (the
            # broker itself, test set-up and checks) are super users; resources without ACLs stay open
            # unless `open_without_acls` is False (a principal's exact permissions under test)
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:ANONYMOUS",
            f"allow.everyone.if.no.acl.found={'true' if self.open_without_acls else 'false'}",
        ]

    def format_args(self) -> list[str]:
        args = []
        for name, password in self.scram_users.items():
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return args


def server_properties(data_dir: Path, port: int, secure: SecureListeners | None = None) -> str:
    controller_port = port + 1
    listeners = [f"PLAINTEXT://127.0.0.1:{port}"]
    extra: list[str] = []
    if secure is not None:
        listeners += [f"SASL_SSL://127.0.0.1:{port + 2}", f"SSL://127.0.0.1:{port + 3}"]
        extra = secure.properties()
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            f"listeners={','.join(listeners)},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners={','.join(listeners)}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
            *extra,
            f"log.dirs={data_dir}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "message.max.bytes=2097152",
            "",
        ]
    )
