"""Kubernetes files derived from their one home, so the cluster gets what `make test` checked.

The alert rules (`deploy/prometheus/alerts.yml`, promtool-tested) become a PrometheusRule, and the
Grafana dashboard is copied into the monitoring component: Kustomize reads no file outside a
kustomization's folder. `tests/unit/test_kubernetes.py` fails when a derived file has drifted.
`--crds` refreshes the KEDA and Prometheus-operator CRDs the manifests are validated against
(`tests/data/crds/`), from those projects' Go modules at the pinned versions.

    python -m stream_filter.dev.kubernetes [--crds]      (make kube-assets, make crds)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
MONITORING = KUBERNETES / "components" / "monitoring"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "stream-filter.json"
CRDS = ROOT / "tests" / "data" / "crds"
CRD_SOURCES = {  # Go module at its pinned version: the CRD files in it
    "github.com/kedacore/keda/v2@v2.21.0": ["config/crd/bases/keda.sh_scaledobjects.yaml",
                                            "config/crd/bases/keda.sh_triggerauthentications.yaml"],
    "github.com/prometheus-operator/prometheus-operator@v0.85.0": [
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"],
}
HEADER = "# Generated from deploy/prometheus/alerts.yml by `make kube-assets`: edit that file, not this one.\n"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as people write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _string)


def prometheus_rule() -> str:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "stream-filter", "labels": {"release": "kube-prometheus-stack"}},
            "spec": {"groups": groups}}
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def derived() -> dict[Path, str]:
    return {MONITORING / "prometheusrule.yaml": prometheus_rule(),
            MONITORING / "stream-filter.json": DASHBOARD.read_text()}


def fetch_crds() -> None:
    with tempfile.TemporaryDirectory() as empty:  # outside any Go module
        for module, files in CRD_SOURCES.items():
            found = subprocess.run(["go", "mod", "download", "-json", module], cwd=empty, check=True,
                                   capture_output=True, text=True)
            source = Path(json.loads(found.stdout)["Dir"])
            for name in files:
                target = CRDS / Path(name).name
                shutil.copyfile(source / name, target)
                target.chmod(0o644)
                print(f"wrote {target.relative_to(ROOT)} ({module})")


def main() -> int:
    if "--crds" in sys.argv[1:]:
        fetch_crds()
        return 0
    for path, text in derived().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
