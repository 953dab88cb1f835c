"""Settings come from STREAM_FILTER_* only and hide secrets; metrics follow the naming guide."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from stream_filter.core.batch import Note
from stream_filter.core.policy.book import PolicyBook
from stream_filter.core.route import route
from stream_filter.dev.samples import MALFORMED, generate
from stream_filter.settings import Settings
from stream_filter.worker.faust_options import faust_options
from stream_filter.worker.metrics import Metrics


def test_env_prefix_and_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_FILTER_TOPIC_INPUT", "custom.in")
    monkeypatch.setenv("BROKER_URL", "kafka://should-be-ignored:1")
    settings = Settings()
    assert settings.topic_input == "custom.in"
    with pytest.raises(ValidationError):
        settings.topic_input = "x"  # type: ignore[misc]


def test_secret_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_FILTER_SASL_PASSWORD", "hunter2")
    settings = Settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.sasl_password is not None and settings.sasl_password.get_secret_value() == "hunter2"


def test_faust_gets_explicit_settings_and_no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "1")
    opts = faust_options(Settings(kafka_bootstrap_servers="h1:9092,h2:9092", web_port=7001))
    assert opts["env"] == {} and opts["web_port"] == 7001
    assert opts["broker"] == ["kafka://h1:9092", "kafka://h2:9092"]
    assert opts["producer_acks"] == -1 and opts["processing_guarantee"] == "at_least_once"
    assert opts["consumer_max_fetch_size"] == 1_048_576


def test_fetch_size_reaches_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_FILTER_FETCH_PARTITION_BYTES", "4194304")
    import faust

    app = faust.App("fetch-size-test", **faust_options(Settings()))
    assert app.conf.consumer_max_fetch_size == 4_194_304


def test_metrics_names_labels_and_counts() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, "test")
    policy = PolicyBook.load("default")
    samples = generate(50, seed=11)
    rejected_by_cluster: dict[str, int] = {}
    for s in samples:
        routed = route(s.event["listing_id"].encode(), s.line(), policy)
        metrics.record_batch([Note(routed, 0.001, 1.0)])
        if routed.decision is not None and routed.decision.outcome.value == "rejected":
            for match in routed.decision.clusters:
                rejected_by_cluster[match.cluster] = rejected_by_cluster.get(match.cluster, 0) + 1
    metrics.record_batch([Note(route(b"k", MALFORMED[0][0], policy), 0.001, None)])
    text = generate_latest(registry).decode()
    for line in text.splitlines():
        if line.startswith("# TYPE") and line.endswith("counter"):
            assert line.split()[2].startswith("stream_filter_")
    assert registry.get_sample_value("stream_filter_records_consumed_total") == 51
    for outcome in ("approved", "rejected", "review"):
        expected = sum(1 for s in samples if s.outcome == outcome)
        assert registry.get_sample_value("stream_filter_decisions_total", {"outcome": outcome}) == expected
    assert registry.get_sample_value("stream_filter_dead_letters_total", {"code": "INVALID_JSON"}) == 1
    assert rejected_by_cluster  # the sample has rejected listings in blocked clusters
    for cluster, count in rejected_by_cluster.items():
        labels = {"outcome": "rejected", "cluster": cluster}
        assert registry.get_sample_value("stream_filter_cluster_matches_total", labels) == count
    assert registry.get_sample_value("stream_filter_dead_letters_total", {"code": "NULL_VALUE"}) == 0  # pre-created
    assert "listing_id" not in text and "L-" not in text  # no ids as label values
