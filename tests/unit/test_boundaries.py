"""Guards: the pure core imports no Kafka, Faust or Prometheus; schemas match the models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stream_filter.schemas import render

PACKAGE = Path(__file__).resolve().parents[2] / "stream_filter"
PURE = ["listing", "decision", "decode", "text", "places", "origin", "lexicon", "cluster", "policy", "policy_files",
        "rules", "pipeline", "shadow", "recent", "backtest", "lifecycle",
        "evaluation", "samples", "schemas", "settings"]
FORBIDDEN = ("faust", "aiokafka", "kafka", "prometheus_client", "mode")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_core_has_no_edge_imports(module: str) -> None:
    bad = _imports(PACKAGE / f"{module}.py") & set(FORBIDDEN)
    assert not bad, f"{module}.py imports {bad}"


def test_committed_schemas_match_the_models() -> None:
    schema_dir = PACKAGE.parent / "schemas"
    for filename, text in render().items():
        committed = (schema_dir / filename).read_text(encoding="utf-8")
        assert committed == text, f"schemas/{filename} drifted: run `make schemas`"
