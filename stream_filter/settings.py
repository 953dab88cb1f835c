"""All configuration in one frozen object, read from `STREAM_FILTER_*` environment variables.

Why one place: the worker passes every Faust setting explicitly from here (and an empty env to
Faust), so Faust never reads BROKER_URL, WEB_PORT or similar from the environment behind our back.
Built by `Settings()` at start-up, never at import time, so tests build their own.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAM_FILTER_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:39092", description="host:port[,host:port]")
    app_id: str = Field(default="stream-filter", pattern=r"^[A-Za-z0-9._-]+$",
                        description="Faust app id = consumer group; one per independent deployment.")
    topic_input: str = "listings.new"
    topic_approved: str = "listings.approved"
    topic_rejected: str = "listings.rejected"
    topic_review: str = "listings.review"
    topic_dead_letter: str = "listings.dead-letter"
    topic_policy: str = Field(default="stream-filter.policy", description="Compacted topic of live/shadow policies.")
    topic_shadow_diff: str = "listings.shadow-diff"
    topic_review_verdicts: str = Field(default="listings.review-verdicts", description="Reviewers' verdicts "
                                       "(ReviewVerdict v1), keyed by listing id, co-partitioned with the input.")
    topic_partitions: int = Field(default=4, ge=1, description="Partitions for topics created when missing.")
    input_partitioner: Literal["auto", "murmur2", "crc32", "fnv1a"] = Field(
        default="auto", description="How the ingest pipeline's producer places listing keys: murmur2 (Java, "
        "aiokafka), crc32 (librdkafka: confluent-kafka, kcat), fnv1a (Sarama); auto: learnt from where records are.")
    input_format: Literal["json", "registry", "auto"] = Field(
        default="json", description="Input values: plain JSON; registry (the schema-registry frame: byte 0, a "
        "schema id, then Avro or JSON by the registry's word); auto (byte 0 is framed, anything else plain JSON).")
    schema_registry_url: str | None = Field(
        default=None, description="Base URL of a Confluent-compatible schema registry, as confluent-kafka takes it "
        "(Apicurio: http://HOST:PORT/apis/ccompat/v7); needed unless INPUT_FORMAT is json.")
    output_format: Literal["json", "registry"] = Field(
        default="json", description="Decision records as plain JSON, or framed for the schema registry (byte 0 and "
        "the id of the schema `stream-filter schemas register` put under each output topic's subject).")
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None
    topic_replication: int = Field(default=1, ge=1)
    web_host: str = Field(default="127.0.0.1", description="Bind address of /metrics (0.0.0.0 in containers).")
    web_port: int = Field(default=6066, ge=1, le=65535)
    advertised_url: str | None = Field(
        default=None, description="The URL other workers reach this one's web server at, to route listing "
        "lookups to the partition's owner; default http://WEB_HOST:WEB_PORT (the host name for 0.0.0.0).")
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token the listing lookup requires when the web server binds beyond "
        "loopback (it holds seller data); /metrics and the health pages stay open.")
    web_tls_certfile: str | None = Field(
        default=None, description="PEM certificate chain (the private key may be in it) the web server serves "
        "https with: the lookup's token and seller data cross the network encrypted between workers.")
    web_tls_keyfile: str | None = Field(default=None, description="PEM private key, when not in the certfile.")
    web_tls_cafile: str | None = Field(
        default=None, description="CA that signs the other workers' web certificates (default: the system's).")
    peer_url_pattern: str | None = Field(
        default=None, description="A regular expression every other worker's advertised URL must match for the "
        "lookup to ask it (default: this worker's scheme and port, on loopback any loopback port, else a host in "
        "the same domain: http://POD.stream-filter:6066 admits its siblings).")
    api_token_file: str | None = Field(
        default=None, description="A file holding the API token (a mounted Secret): read at start when "
        "STREAM_FILTER_API_TOKEN is not set, so the token is in neither the environment nor argv; a missing "
        "or empty file leaves lookups beyond loopback off.")
    lag_interval_s: float = Field(default=10.0, gt=0, description="How often consumer lag is measured.")
    policy: str = Field(default="default", description="Policy packs and/or YAML files, comma-separated.")
    policy_clock: Literal["event", "processing"] = Field(
        default="event", description="Apply the policy in force at the event's occurred_at, or at processing time.")
    batch_max: int = Field(default=500, ge=1, description="Records decided and delivered per batch.")
    batch_within_s: float = Field(default=0.01, gt=0, description="Longest wait to fill a batch: latency at "
                                  "low load against per-batch costs under a backlog (docs/performance.md).")
    fetch_partition_bytes: int = Field(
        default=1_048_576, ge=65_536, description="Most bytes fetched per input partition and request; "
        "raise it when a worker owns one or two partitions (docs/performance.md).")
    fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=30_000, description="Longest wait of the worker's fetch at the broker when the "
        "fetched partitions have nothing new (Faust's own value is 1500 and not a setting; docs/performance.md).")
    max_value_bytes: int = Field(default=1_048_576, ge=1024)
    max_output_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest decision or listing-state record the worker sends; "
        "a listing whose record would be larger is dead-lettered OUTPUT_TOO_LARGE before anything is sent. "
        "Lowered at start to the output topics' max.message.bytes.")
    max_event_age_s: float = Field(default=0, ge=0, description="Dead-letter events older than this; 0 = off.")
    dedupe_window: int = Field(default=100_000, ge=0, description="Recent event ids remembered; 0 = off.")
    metadata_max_age_s: float = Field(default=30.0, gt=0, description="How often clients refresh topic "
                                      "metadata: how soon a worker sees input partitions added.")
    session_timeout_s: float = Field(default=10.0, ge=6, description="Consumer group session timeout: how "
                                     "soon a crashed worker's partitions move to the others.")
    output_blocked_exit_s: float = Field(
        default=120.0, ge=0, description="Exit (code 5) when an output refuses writes with a permanent error "
        "(authorization, missing topic) for this long; 0 = retry for ever. docs/reliability.md.")
    shutdown_timeout_s: float = Field(
        default=25.0, gt=0, description="SIGTERM ends the worker within this, whatever the broker does; what "
        "was not acknowledged is replayed by the next owner.")
    stall_after_s: float = Field(default=60.0, gt=0, description="/readyz fails when records wait and no "
                                 "batch was delivered for this long.")
    cluster_model: str = Field(default="shipped", description="The learned cluster layer: `shipped` (the model "
                               "in the package), `none` (lexicon only), or a model file from `stream-filter train`.")
    policy_verify_key: str | None = Field(
        default=None, description="Ed25519 public key (PEM file) policy records must be signed with; unset: "
        "records are not checked (guard the topic with ACLs either way).")
    reviewer_keys: str | None = Field(
        default=None, description="A directory of reviewer verify keys, `<reviewer id>.pem` each (Ed25519 public "
        "keys; a mounted Secret), read again when it changes: verdicts must be signed by the key of the reviewer "
        "they name. Unset: verdicts are not checked (/healthz and the log say so).")
    data_dir: str = Field(default=".stream-filter", description="Faust's local state directory.")
    state_store: Literal["auto", "memory"] = Field(
        default="auto", description="Listing state: RocksDB (rocksdict) when installed, else memory; or memory.")
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="uvloop", description="The worker's event loop: uvloop (faster, docs/performance.md) or asyncio.")
    malloc_arenas: int = Field(default=2, ge=0, description="glibc malloc arenas of the worker process (0: glibc's "
                               "default, eight per core); fewer arenas hold less freed memory (cli/allocator.py).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @model_validator(mode="after")
    def _token_from_file(self) -> Settings:
        """STREAM_FILTER_API_TOKEN_FILE: the token read once, here (frozen settings: set as pydantic would)."""
        if self.api_token is None and self.api_token_file:
            file = Path(self.api_token_file)
            token = file.read_text(encoding="utf-8").strip() if file.is_file() else ""  # no file: lookups stay off
            if token:
                object.__setattr__(self, "api_token", SecretStr(token))
        return self

    @model_validator(mode="after")
    def _registry_for_framed_input(self) -> Settings:
        if self.schema_registry_password is not None and not self.schema_registry_username:
            raise ValueError("STREAM_FILTER_SCHEMA_REGISTRY_PASSWORD is set without "
                             "STREAM_FILTER_SCHEMA_REGISTRY_USERNAME")
        for name, value in (("INPUT_FORMAT", self.input_format), ("OUTPUT_FORMAT", self.output_format)):
            if value != "json" and not self.schema_registry_url:
                raise ValueError(f"STREAM_FILTER_{name}={value} needs the schema registry: set "
                                 "STREAM_FILTER_SCHEMA_REGISTRY_URL (Apicurio: http://HOST:PORT/apis/ccompat/v7)")
        return self

    def topic_state(self) -> str:
        """The compacted changelog of listing states (per deployment, like the consumer group)."""
        return f"{self.app_id}-listing-state-changelog"

    def topic_state_layout(self) -> str:
        """The history of the changelog's partition counts (a partition change leaves states to adopt)."""
        return f"{self.app_id}-listing-state-layout"

    def canonical_url(self) -> str:
        if self.advertised_url:
            return self.advertised_url
        host = socket.gethostname() if self.web_host in ("0.0.0.0", "::") else self.web_host
        return f"{'https' if self.web_tls_certfile else 'http'}://{host}:{self.web_port}"

    def web_server_tls(self) -> ssl.SSLContext | None:
        """The web server's TLS context (None: plain HTTP)."""
        if not self.web_tls_certfile:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.web_tls_certfile, self.web_tls_keyfile)
        return context

    def peer_tls(self) -> ssl.SSLContext:
        """How a worker checks another's https certificate: the CA given, else the system's."""
        return ssl.create_default_context(cafile=self.web_tls_cafile)

    def peer_pattern(self) -> str:
        """`peer_url_pattern`, or the one derived from this worker's own URL."""
        if self.peer_url_pattern:
            return self.peer_url_pattern
        own = urlsplit(self.canonical_url())
        host = own.hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            return rf"{re.escape(own.scheme)}://(127\.0\.0\.1|localhost|\[::1\]):\d+"
        port = f":{own.port}" if own.port else ""
        domain = host.split(".", 1)[1] if "." in host else ""
        sibling = rf"[A-Za-z0-9-]+\.{re.escape(domain)}" if domain else re.escape(host)
        return rf"{re.escape(own.scheme)}://{sibling}{re.escape(port)}"

    def loopback_only(self) -> bool:
        """Whether the web server answers only this machine (the lookup then needs no token)."""
        return self.web_host == "localhost" or ip_address_is_loopback(self.web_host)

    def output_topics(self) -> dict[str, str]:
        return {"approved": self.topic_approved, "rejected": self.topic_rejected, "review": self.topic_review,
                "dead_letter": self.topic_dead_letter}


def ip_address_is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: not known to be loopback
        return False
