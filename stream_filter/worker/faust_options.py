"""Every Faust setting the worker relies on, explicit, built from `Settings` alone.

Why one function: `env={}` keeps Faust away from os.environ (BROKER_URL, WEB_PORT...), so what the
worker does is what `Settings` says; and the broker credentials are built here, the only place that
hands the secrets to Faust.
"""

from __future__ import annotations

from typing import Any

import faust

from stream_filter.kafka.clients import MAX_REQUEST_BYTES, ssl_context
from stream_filter.settings import Settings


def credentials(settings: Settings) -> Any:
    """SASL (SCRAM/PLAIN) over TLS or plaintext, or mutual TLS."""
    if settings.sasl_mechanism:
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else None
        return faust.SASLCredentials(
            username=settings.sasl_username, password=password, mechanism=settings.sasl_mechanism,
            ssl_context=ssl_context(settings) if settings.security_protocol == "SASL_SSL" else None)
    return faust.SSLCredentials(ssl_context(settings))


def event_loop(settings: Settings) -> str:
    """The loop the worker runs on: uvloop unless asked otherwise, and never with TLS to the broker.
    Under uvloop a TLS connection closes only once the broker answers the TLS shutdown, or after 30 s:
    every short-lived client (state loads, the layout, adoption) then took 30 s to stop."""
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        return "asyncio"
    return settings.event_loop


def faust_options(settings: Settings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "env": {},
        "broker": [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap_servers.split(",")],
        "store": "memory://",
        "autodiscover": False,
        "datadir": settings.data_dir,
        "web_enabled": True,
        # only the project's pages (pages.py) and Faust's {"status": "OK"} at "/": no router, tables,
        # statistics, graph or performance pages (they show internals and answer without the token)
        "web_router_enabled": False, "web_tables_enabled": False, "web_stats_enabled": False,
        "web_graph_enabled": False, "web_metrics_enabled": False,
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_ssl_context": settings.web_server_tls(),  # https when a certificate is given
        "canonical_url": settings.canonical_url(),  # what the group assignment tells the other workers
        "web_in_thread": False,
        "producer_acks": -1,
        "producer_linger": 0.005,  # batches fill while a batch is queued; delivery is awaited per batch
        "producer_max_request_size": MAX_REQUEST_BYTES,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "topic_allow_declare": True,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.session_timeout_s / 3,
        "consumer_max_fetch_size": settings.fetch_partition_bytes,
        "consumer_metadata_max_age_ms": int(settings.metadata_max_age_s * 1000),
        "producer_metadata_max_age_ms": int(settings.metadata_max_age_s * 1000),
        "broker_commit_interval": 1.0,
        "stream_wait_empty": True,
        "worker_redirect_stdouts": False,
        "table_cleanup_interval": 3600.0,
        # Faust's own assignor: it co-partitions the verdicts with their listings and carries each
        # worker's URL for the lookup. Faust uses it only while `table_standby_replicas` > 0 (the worker
        # has no Faust table); with 0 it silently picks round-robin, which the consumer refuses.
        "PartitionAssignor": "faust.assignor:PartitionAssignor",
        "table_standby_replicas": 1,
    }
    if settings.security_protocol != "PLAINTEXT":
        opts["broker_credentials"] = credentials(settings)
    return opts
