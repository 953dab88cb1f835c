"""Guards: the pure core loads no Kafka client, Faust, Prometheus or RocksDB, even transitively;
the wire schemas match the models."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import stream_filter.core
from stream_filter.core.contracts.schemas import render

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("faust", "aiokafka", "kafka", "prometheus_client", "rocksdict", "mode")
CORE = sorted(m.name for m in pkgutil.walk_packages(stream_filter.core.__path__, "stream_filter.core."))
PROBE = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(",".join(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[2].split(","))))
"""


def test_the_core_is_every_module_under_core() -> None:
    assert "stream_filter.core.route" in CORE and "stream_filter.core.classify.origin" in CORE and len(CORE) > 20


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_loads_no_edge_library(module: str) -> None:
    """A fresh interpreter per module: what it loads, directly or through other modules, is all there."""
    loaded = subprocess.run([sys.executable, "-c", PROBE, module, ",".join(FORBIDDEN)], capture_output=True,
                            text=True, check=True, cwd=ROOT).stdout.strip()
    assert loaded == "", f"importing {module} loads {loaded}"


def test_the_guard_sees_a_transitive_import() -> None:
    """The probe is not blind: an edge module that loads Faust through others is caught."""
    loaded = subprocess.run([sys.executable, "-c", PROBE, "stream_filter.worker.delivery", ",".join(FORBIDDEN)],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "faust" in loaded and "aiokafka" in loaded and "prometheus_client" in loaded


def test_committed_schemas_match_the_models() -> None:
    schema_dir = ROOT / "schemas"
    for filename, text in render().items():
        committed = (schema_dir / filename).read_text(encoding="utf-8")
        assert committed == text, f"schemas/{filename} drifted: run `make schemas`"
