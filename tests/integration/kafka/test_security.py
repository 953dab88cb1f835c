"""The worker on a secured broker: SASL_SSL with SCRAM, and mutual TLS; wrong credentials fail fast.

The broker is the secured local one (tests/secure.py), shared with the permission tests.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from stream_filter.dev.samples import generate
from stream_filter.kafka.clients import client_options
from stream_filter.kafka.publish import publish
from tests.secure import PASSWORD, SecureBroker, sasl_env
from tests.support import Names, WorkerProcess, drain, metric_value, settings_of

FAIL_FAST_S = 60.0  # a wrong password must end the worker well within this, not hang


def _round_trip(bootstrap: str, env: dict[str, str], tmp_path: Path) -> tuple[str, str]:
    names = Names()
    env = names.env(bootstrap, **env)
    settings = settings_of(env)
    samples = generate(20, seed=8, prefix=names.suffix)
    worker = WorkerProcess(env, tmp_path / "w.log").start()
    try:
        worker.get("/healthz")
        asyncio.run(publish(settings, [(s.event["listing_id"].encode(), s.line()) for s in samples]))
        opts = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
        out = drain(bootstrap, list(names.outputs().values()), 20, **opts)
        metrics = worker.get("/metrics")
    finally:
        assert worker.stop() == 0
    assert len(out) == 20
    assert sorted(r.topic for r in out) == sorted(names.topic(s.outcome) for s in samples)
    assert metric_value(metrics, "stream_filter_decisions_total") == 20
    return metrics, worker.log()


def test_worker_on_sasl_ssl_with_scram(secure_broker: SecureBroker, tmp_path: Path) -> None:
    metrics, log = _round_trip(secure_broker.sasl_ssl, sasl_env(secure_broker, PASSWORD), tmp_path)
    assert PASSWORD not in metrics and PASSWORD not in log


def test_worker_on_mutual_tls(secure_broker: SecureBroker, tmp_path: Path) -> None:
    env = {"STREAM_FILTER_SECURITY_PROTOCOL": "SSL", "STREAM_FILTER_SSL_CAFILE": str(secure_broker.certs.ca),
           "STREAM_FILTER_SSL_CERTFILE": str(secure_broker.certs.client_cert),
           "STREAM_FILTER_SSL_KEYFILE": str(secure_broker.certs.client_key)}
    _round_trip(secure_broker.ssl, env, tmp_path)


def test_wrong_password_fails_fast_with_a_clear_error(secure_broker: SecureBroker, tmp_path: Path) -> None:
    names = Names()
    env = {**names.env(secure_broker.sasl_ssl, **sasl_env(secure_broker, "wrong-password"))}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "stream_filter", "worker"], capture_output=True, text=True,
                          env={**WorkerProcess(env, tmp_path / "x.log").env}, timeout=FAIL_FAST_S, check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kafka error:") and "credentials" in last, proc.stderr[-2000:]
    assert "authentication failed" in proc.stderr.lower()  # the client's own line names the cause
    assert "wrong-password" not in proc.stdout + proc.stderr
    print(f"\nwrong password: exit {proc.returncode} after {elapsed:.1f}s")
