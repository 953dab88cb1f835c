# stream-filter: `make run` (the service on a local broker, with sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv lock tools run test lint unit kafka kafka-down registry registry-down schemas examples kube-assets crds eval train bench bench-core bench-reevaluation bench-expiries bench-oversized bench-sizing bench-review chaos clean

venv: $(VENV)/.installed

# Every dependency from the lock (exact versions, hashes checked), then the project itself on top.
PIP_LOCKED = --quiet --disable-pip-version-check --require-hashes
$(VENV)/.installed: pyproject.toml requirements/dev.txt
	@echo "stream-filter: installing the locked Python dependencies into $(VENV) (requirements/dev.txt)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_LOCKED) -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

## Refresh the lock files after changing a dependency in pyproject.toml (versions already locked are kept
## where they still fit; `LOCK_ARGS=--upgrade` or `--upgrade-package NAME` moves them on).
LOCK = $(VENV)/bin/uv pip compile -q pyproject.toml requirements/build.in --universal --python-version 3.11 \
	--generate-hashes $(LOCK_ARGS)
lock: venv
	$(LOCK) -o requirements/worker.txt
	$(LOCK) --extra dev -o requirements/dev.txt
	$(LOCK) --extra dev --extra bench -o requirements/bench.txt

## Kustomize, pinned, from the Go module proxy (the tests fall back to kubectl's own when there is no Go).
KUSTOMIZE_VERSION ?= v5.7.1
tools: $(VENV)/.installed
	@if [ -x $(VENV)/bin/kustomize ]; then :; \
	elif command -v go >/dev/null 2>&1; then GOBIN=$(abspath $(VENV))/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION) \
	  || echo "kustomize not built (Go too old?): Kubernetes manifests render with kubectl kustomize if present"; \
	else echo "no Go: Kubernetes manifests render with kubectl kustomize"; fi

## The service on an embedded default: local Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), default policy.
run: venv
	$(PY) -m stream_filter demo

## Lint, type-check, then every test (unit, integration, e2e) against a real broker.
test: venv tools lint
	$(PY) -m pytest tests

lint: venv
	$(PY) -m ruff check stream_filter tests bench
	$(PY) -m mypy

unit: venv
	$(PY) -m pytest tests/unit

kafka: venv
	@$(PY) -m stream_filter.dev.local_kafka up

kafka-down: venv
	@$(PY) -m stream_filter.dev.local_kafka down

## A real schema registry on loopback (Apicurio Registry 3.0.9 from Maven Central, Confluent-compatible API).
registry: venv
	@$(PY) -m stream_filter.dev.local_registry up

registry-down: venv
	@$(PY) -m stream_filter.dev.local_registry down

schemas: venv
	$(PY) -m stream_filter schemas

## The PrometheusRule and dashboard ConfigMap of deploy/kubernetes, from deploy/prometheus and deploy/grafana.
kube-assets: venv
	$(PY) -m stream_filter.dev.kubernetes

## The KEDA and Prometheus-operator CRDs the manifests are validated against (tests/data/crds), at pinned versions.
crds: venv
	$(PY) -m stream_filter.dev.kubernetes --crds

examples: venv
	$(PY) -m stream_filter.dev.samples > examples/listings.jsonl

## Side-by-side benchmark (raw aiokafka, raw + core, the worker, Quix Streams); results in bench/results/.
# In a venv of its own: the Quix Streams peer pins an older pydantic, which would change the generated
# schemas in the test venv (and fail their drift test).
BENCH_VENV ?= .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml requirements/bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install $(PIP_LOCKED) -r requirements/bench.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.run $(BENCH_ARGS)

## Crash/restart suite at 100,000 events (make test runs it at 20,000).
chaos: venv
	STREAM_FILTER_CHAOS_N=100000 $(PY) -m pytest tests/e2e/test_chaos.py -s -q

bench-core: venv
	$(PY) -m bench.core

## 1% of listings with oversized lists: the others' latency and the web pages' answer times, printed.
bench-oversized: venv
	$(PY) -m bench.oversized $(BENCH_ARGS)

## What N active listings cost a worker: load, restart, a second worker joining, memory, disk (bench/results/sizing.json).
bench-sizing: venv
	$(PY) -m bench.sizing --n $(or $(SIZING_N),1000000)

## Retroactive enforcement over 1,000,000 active listings (REEVAL_N to change); bench/results/reevaluation.json.
bench-reevaluation: venv
	$(PY) -m bench.reevaluation --n $(or $(REEVAL_N),1000000)

## Full passes over 1M listings in memory while a verdict expires every 0.1 s; bench/results/expiries.json.
bench-expiries: venv
	$(PY) -m bench.expiries --n $(or $(EXPIRIES_N),1000000)

## Listing lookups (p50/p99) and verdict-to-move time under 1,000 updates/s, two workers; bench/results/review.json.
bench-review: venv
	$(PY) -m bench.review $(BENCH_ARGS)

## The labelled sets the shipped model is trained on and measured with (all in the repository).
LABELLED_SETS := tests/data/prdect-id/products.csv tests/data/crafts/listings.tsv tests/data/food/listings.tsv \
	tests/data/goods/listings.tsv
MODEL_VERSION ?= $(shell $(PYTHON) -c 'import json; print(json.load(open("stream_filter/core/classify/data/cluster_model.json"))["version"])')

eval: venv
	$(PY) -m stream_filter eval $(LABELLED_SETS) --kfold 5

## Retrain the shipped model from the labelled sets (MODEL_VERSION=... for a new version); byte for byte reproducible.
train: venv
	$(PY) -m stream_filter train $(LABELLED_SETS) -o stream_filter/core/classify/data/cluster_model.json --version $(MODEL_VERSION)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .stream-filter .pytest_cache .mypy_cache .ruff_cache
