"""Deployment files: alert rules pass their promtool unit tests, compose matches the Compose
specification, the Dockerfile lints clean, and every metric that rules and dashboard use exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests import metric_names

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    assert path, f"{name} not found (promtool: Debian 'prometheus'; others: the dev extra)"
    return path


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)


def test_alert_rules_check_and_unit_tests() -> None:
    check = _run(_tool("promtool"), "check", "rules", str(PROM / "alerts.yml"))
    assert check.returncode == 0, check.stdout + check.stderr
    tests = _run(_tool("promtool"), "test", "rules", str(PROM / "alerts_test.yml"))
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr


def test_prometheus_config_is_valid() -> None:
    check = _run(_tool("promtool"), "check", "config", str(PROM / "prometheus.yml"))
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_alert_has_a_unit_test() -> None:
    rules = set(re.findall(r"alert: (\w+)", (PROM / "alerts.yml").read_text()))
    tested = set(re.findall(r"alertname: (\w+)", (PROM / "alerts_test.yml").read_text()))
    assert rules and rules == tested


def test_compose_file_matches_the_compose_specification() -> None:
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_lints_clean() -> None:
    result = _run(_tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    dashboard = (ROOT / "deploy" / "grafana" / "dashboards" / "stream-filter.json").read_text()
    exprs = [t["expr"] for p in json.loads(dashboard)["panels"] for t in p["targets"]]
    used = metric_names.used_in((PROM / "alerts.yml").read_text() + " ".join(exprs))
    assert used and used <= metric_names.exported(), used - metric_names.exported()


def test_compose_and_image_probe_pages_the_worker_serves_within_its_bounds() -> None:
    """Compose checks readiness, the image liveness; compose waits longer than the worker's own bound."""
    import yaml

    from stream_filter.settings import Settings
    from stream_filter.worker.pages import LIVENESS, READINESS

    worker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    assert READINESS in " ".join(worker["healthcheck"]["test"])
    assert LIVENESS in (ROOT / "Dockerfile").read_text()
    grace = int(str(worker["stop_grace_period"]).removesuffix("s"))
    assert grace > Settings().shutdown_timeout_s
