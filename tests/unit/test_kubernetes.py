"""The Kubernetes manifests (`deploy/kubernetes/`), without a cluster: each overlay renders with
Kustomize, every object is valid against the Kubernetes schemas (kubernetes-validate, strict) or
its CRD's schema (KEDA, Prometheus operator, `tests/data/crds/`), every reference resolves, and what
the manifests say about the worker matches the code: probe paths, port, settings, shutdown bound,
consumer group, topic and partition cap, metric names."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from stream_filter.dev import kubernetes as derived_files
from stream_filter.settings import Settings
from stream_filter.worker.pages import LIVENESS, METRICS, READINESS
from tests import metric_names

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"
CRDS = ROOT / "tests" / "data" / "crds"
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]  # the oldest we support, the newest
# Trigger metadata KEDA 2.21's Kafka scaler reads (pkg/scalers/kafka_scaler.go); the CRD types it as a
# free map of strings, so a misspelt key would pass schema validation and be silently ignored.
KAFKA_TRIGGER_KEYS = {"bootstrapServers", "consumerGroup", "topic", "partitionLimitation", "lagThreshold",
                      "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag",
                      "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag",
                      "ensureEvenDistributionOfPartitions", "version", "tls", "unsafeSsl", "sasl"}
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


def _overlays() -> list[str]:
    return sorted(p.name for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists())


def _kustomize() -> list[str]:
    """The pinned kustomize `make` installs into the venv, else one on PATH, else kubectl's."""
    for candidate in (Path(sys.executable).parent / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).exists():
            return [str(candidate), "build"]
    kubectl = shutil.which("kubectl")
    assert kubectl, "no kustomize: `make tools` installs it (needs Go), or install kubectl"
    return [kubectl, "kustomize"]


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run([*_kustomize(), str(OVERLAYS / overlay)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def one(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


def _strict(schema: Any) -> Any:
    """The API server prunes unknown fields of a custom resource silently; here they fail instead."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the CRD's openAPIV3Schema, made strict."""
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta: checked by the API server
            schemas[(api_version, crd["spec"]["names"]["kind"])] = _strict(schema)
    return schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", _overlays())
def test_every_object_is_valid_against_its_schema(overlay: str, version: str) -> None:
    errors = []
    for obj in render(overlay):
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        custom = crd_schemas().get((obj["apiVersion"], obj["kind"]))
        try:
            if custom is not None:
                jsonschema.Draft7Validator(custom).validate(obj)
            else:
                kubernetes_validate.validate(obj, version, strict=True)
        except SchemaNotFoundError:
            errors.append(f"{name}: no schema for {obj['apiVersion']} (add its CRD to tests/data/crds)")
        except jsonschema.ValidationError as exc:
            errors.append(f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_strict_validation_catches_a_misspelt_field() -> None:
    """What the test above relies on: an unknown field fails, built-in and custom alike."""
    statefulset = copy.deepcopy(one(render("production"), "StatefulSet"))
    statefulset["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 30
    with pytest.raises(jsonschema.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[-1], strict=True)
    scaled = copy.deepcopy(one(render("production"), "ScaledObject"))
    scaled["spec"]["cooldownPerod"] = 300
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schemas()[("keda.sh/v1alpha1", "ScaledObject")]).validate(scaled)


def _container(objects: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    [container] = one(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"]
    return container


def _config(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    [ref] = _container(objects)["envFrom"]
    return dict(one(objects, "ConfigMap", ref["configMapRef"]["name"])["data"])


def _settings(objects: tuple[dict[str, Any], ...], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The worker's Settings as the pod's environment builds them (invalid values fail here)."""
    for key in [k for k in os.environ if k.startswith("STREAM_FILTER_")]:
        monkeypatch.delenv(key)
    pod_env = {e["name"]: e.get("value", "from-a-secret" if "secretKeyRef" in e.get("valueFrom", {}) else "pod")
               for e in _container(objects).get("env", [])}
    env = {**_config(objects), **{k: v for k, v in pod_env.items() if k.startswith("STREAM_FILTER_")}}
    fields = {f"STREAM_FILTER_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, f"not settings: {set(env) - fields}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.mark.parametrize("overlay", _overlays())
def test_the_worker_pod_matches_the_code(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(overlay)
    settings = _settings(objects, monkeypatch)
    container = _container(objects)
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    [port] = container["ports"]
    assert port["containerPort"] == settings.web_port and settings.web_host == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"] == {"path": LIVENESS, "port": port["name"]}
    assert container["startupProbe"]["httpGet"] == {"path": LIVENESS, "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": READINESS, "port": port["name"]}
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_timeout_s  # the worker ends itself first
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(settings.data_dir) == "state"  # the listing-state maps on the volume
    claims = {c["metadata"]["name"] for c in one(objects, "StatefulSet")["spec"]["volumeClaimTemplates"]}
    assert "state" in claims
    annotations = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == METRICS and annotations["prometheus.io/port"] == str(settings.web_port)
    brokers = {int(address.rsplit(":", 1)[1]) for address in settings.kafka_bootstrap_servers.split(",")}
    egress = {p["port"] for rule in one(objects, "NetworkPolicy")["spec"]["egress"] for p in rule["ports"]}
    assert brokers <= egress, "the NetworkPolicy must let the worker reach its brokers"
    # lookups are routed to the partition's owner at its advertised URL: its stable name, the web port
    pod_name = {e["name"]: e for e in container["env"]}["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"]
    service = one(objects, "StatefulSet")["spec"]["serviceName"]
    assert pod_name == "metadata.name" and settings.advertised_url == f"http://$(POD_NAME).{service}:{settings.web_port}"
    assert settings.web_port in egress, "the NetworkPolicy must let a worker reach the others' lookup"


@pytest.mark.parametrize("overlay", _overlays())
def test_references_resolve_and_selectors_select_the_worker(overlay: str) -> None:
    objects = render(overlay)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    statefulset = one(objects, "StatefulSet")
    pod = statefulset["spec"]["template"]
    labels = pod["metadata"]["labels"]
    refs = [("ServiceAccount", pod["spec"]["serviceAccountName"]), ("Service", statefulset["spec"]["serviceName"])]
    refs += [("ConfigMap", e["configMapRef"]["name"]) for e in pod["spec"]["containers"][0]["envFrom"]]
    refs += [("Secret", e["valueFrom"]["secretKeyRef"]["name"]) for e in pod["spec"]["containers"][0].get("env", [])
             if "secretKeyRef" in e.get("valueFrom", {}) and not e["valueFrom"]["secretKeyRef"].get("optional")]
    refs += [("Secret", v["secret"]["secretName"]) for v in pod["spec"]["volumes"]
             if "secret" in v and not v["secret"].get("optional")]
    for obj in objects:
        if obj["kind"] == "ScaledObject":
            refs.append((obj["spec"]["scaleTargetRef"]["kind"], obj["spec"]["scaleTargetRef"]["name"]))
            refs += [("TriggerAuthentication", t["authenticationRef"]["name"])
                     for t in obj["spec"]["triggers"] if "authenticationRef" in t]
        if obj["kind"] == "TriggerAuthentication":
            refs += [("Secret", ref["name"]) for ref in obj["spec"]["secretTargetRef"]]
    assert set(refs) <= names, set(refs) - names
    volumes = {v["name"] for v in pod["spec"]["volumes"]} | claims_of(statefulset)
    assert {m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]} <= volumes
    selectors = [statefulset["spec"]["selector"]["matchLabels"], one(objects, "Service")["spec"]["selector"],
                 one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                 one(objects, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"]]
    selectors += [c["labelSelector"]["matchLabels"] for c in pod["spec"].get("topologySpreadConstraints", [])]
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            service = one(objects, "Service")
            assert obj["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
            [endpoint] = obj["spec"]["endpoints"]
            assert endpoint["path"] == METRICS
            assert endpoint["port"] in {p["name"] for p in one(objects, "Service")["spec"]["ports"]}
    for selector in selectors:
        assert selector and selector.items() <= labels.items(), selector


def claims_of(statefulset: dict[str, Any]) -> set[str]:
    return {c["metadata"]["name"] for c in statefulset["spec"].get("volumeClaimTemplates", [])}


@pytest.mark.parametrize("overlay", [o for o in _overlays() if any(x["kind"] == "ScaledObject" for x in render(o))])
def test_autoscaling_follows_the_workers_group_and_stops_at_the_partition_count(
        overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = render(overlay)
    settings = _settings(objects, monkeypatch)
    scaled = one(objects, "ScaledObject")
    [trigger] = scaled["spec"]["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka" and set(meta) <= KAFKA_TRIGGER_KEYS, set(meta) - KAFKA_TRIGGER_KEYS
    assert meta["consumerGroup"] == settings.app_id and meta["topic"] == settings.topic_input
    assert meta["bootstrapServers"] == settings.kafka_bootstrap_servers
    assert meta["allowIdleConsumers"] == "false"
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= settings.topic_partitions
    assert "replicas" not in one(objects, "StatefulSet")["spec"], "KEDA owns the count; apply must not reset it"
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_mechanism and meta["sasl"] == KEDA_SASL[settings.sasl_mechanism]
        assert meta["tls"] == ("enable" if settings.security_protocol == "SASL_SSL" else "disable")
        assert "authenticationRef" in trigger
    down = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 300, "scaling down on a short lull thrashes rebalances"


def test_derived_files_match_their_sources() -> None:
    """The PrometheusRule and the dashboard ConfigMap's file come from deploy/prometheus and deploy/grafana."""
    stale = [str(path.relative_to(ROOT)) for path, text in derived_files.derived().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"run `make kube-assets`: {stale} differ from their sources"


def test_the_prometheus_rule_carries_the_promtool_tested_rules() -> None:
    rule = one(render("production"), "PrometheusRule")
    source = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    dashboard = one(render("production"), "ConfigMap", "stream-filter-dashboard")
    assert dashboard["data"]["stream-filter.json"] == (ROOT / "deploy" / "grafana" / "dashboards" /
                                                       "stream-filter.json").read_text()
    used = metric_names.used_in(yaml.safe_dump(rule) + dashboard["data"]["stream-filter.json"])
    assert used and used <= metric_names.exported(), used - metric_names.exported()


def test_production_gives_the_autoscaler_its_own_principal_and_checks_verdicts_and_policies() -> None:
    """KEDA never runs with the workers' credentials; reviewer keys and the policy verify key are mounted
    (fail closed without them)."""
    objects = render("production")
    trigger = one(objects, "TriggerAuthentication")
    keda = {ref["name"] for ref in trigger["spec"]["secretTargetRef"]}
    pod = one(objects, "StatefulSet")["spec"]["template"]["spec"]
    worker = {e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0].get("env", [])
              if "secretKeyRef" in e.get("valueFrom", {})}
    assert len(keda) == 1 and keda.isdisjoint(worker) and next(iter(keda)).startswith("stream-filter-keda")
    config = one(objects, "ConfigMap", next(o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"
                                           and "STREAM_FILTER_REVIEWER_KEYS" in o.get("data", {})))
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert config["data"]["STREAM_FILTER_REVIEWER_KEYS"] in mounts
    policy_key = config["data"].get("STREAM_FILTER_POLICY_VERIFY_KEY")  # policy records checked in production
    assert policy_key and policy_key.rsplit("/", 1)[0] in mounts


@pytest.mark.parametrize("overlay", _overlays())
def test_every_egress_rule_names_its_peers(overlay: str) -> None:
    """No rule lets the worker reach any host on a port: DNS goes to kube-system, Kafka to the brokers'
    namespace, the lookup to the other workers."""
    policy = one(render(overlay), "NetworkPolicy")
    assert all(rule.get("to") for rule in policy["spec"]["egress"]), policy["spec"]["egress"]
    dns = next(r for r in policy["spec"]["egress"] if any(p["port"] == 53 for p in r["ports"]))
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]
    if overlay == "production":  # lookup clients: namespaces labelled for it, on the web port only
        clients = [r for r in policy["spec"]["ingress"] if any(
            f.get("namespaceSelector", {}).get("matchLabels", {}).get("stream-filter.io/lookup-client") == "true"
            for f in r["from"])]
        assert clients and all(p["port"] == "http" for r in clients for p in r["ports"])
