"""A real Prometheus (Debian's package, loopback) scrapes a running worker; its HTTP API reports
the decision counts that were published."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from stream_filter.dev.samples import generate
from stream_filter.kafka.publish import publish
from stream_filter.settings import Settings
from tests.support import Names, WorkerProcess, drain, free_port

SCRAPE_WAIT_S = 90.0
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


def _query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_sees_what_was_decided(kafka_bootstrap: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: install Debian's 'prometheus' package (.ci/run does)"
    names = Names()
    worker = WorkerProcess(names.env(kafka_bootstrap), tmp_path / "w.log").start()
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: stream-filter
    static_configs: [{{targets: ["127.0.0.1:{worker.port}"]}}]
""")
    with (tmp_path / "prom.log").open("wb") as log:
        prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL,
                                stderr=log)
    samples = generate(120, seed=31, prefix=names.suffix)
    expected = Counter(s.outcome for s in samples)
    try:
        worker.get("/healthz")
        settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_input=names.topic("new"))
        asyncio.run(publish(settings, [(s.event["listing_id"].encode(), s.line()) for s in samples]))
        assert len(drain(kafka_bootstrap, list(names.outputs().values()), len(samples))) == len(samples)
        deadline = time.monotonic() + SCRAPE_WAIT_S
        seen: dict[str, float] = {}
        while time.monotonic() < deadline:
            try:
                result = _query(prom_port, "sum by (outcome) (stream_filter_decisions_total)")
                seen = {str(r["metric"]["outcome"]): float(r["value"][1]) for r in result}  # type: ignore[index]
            except OSError:
                pass  # Prometheus still starting
            if seen == {k: float(expected[k]) for k in ("approved", "rejected", "review")}:
                break
            time.sleep(1)
        up = _query(prom_port, 'up{job="stream-filter"}')
    finally:
        prom.terminate()
        prom.wait(30)
        worker.stop()
    assert seen == {k: float(expected[k]) for k in ("approved", "rejected", "review")}, (seen, expected)
    assert [float(r["value"][1]) for r in up] == [1.0]  # type: ignore[index]
