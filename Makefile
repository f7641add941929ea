# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(BIN)/uv
# uv installs into this venv (not one of its own choosing).
export UV_PROJECT_ENVIRONMENT := $(VENV)
PROTO := services/proto/orders/v1/orders.proto
DURATION ?=
OTLP ?=
RUN_ARGS := $(if $(DURATION),--duration $(DURATION),) $(if $(OTLP),--otlp,)

.PHONY: help venv ci-cold lock kubernetes run test lint typecheck unit proto prometheus-config collector tools prometheus alertmanager kube-apiserver etcd bench soak clean

help:
	@echo "make run    - set up .venv and run the stack (make run DURATION=20 stops after 20 s;"
	@echo "              make run OTLP=1 sends metrics and traces through a local collector)"
	@echo "make test   - set up .venv with the dev extra, lint, type check and run all tests"
	@echo "make bench  - run the benchmark suite (writes bench/results/ and docs/benchmarks.md)"
	@echo "make soak   - the minutes-long soak test"
	@echo "make proto  - regenerate the committed protobuf code"
	@echo "make collector - build the OpenTelemetry Collector (needs Go); prints its path last"
	@echo "make tools  - build the tested Prometheus and Alertmanager releases (needs Go; cached)"
	@echo "make kube-apiserver etcd - build both for the API-server dry run of the manifests (cached)"
	@echo "make lock   - re-resolve uv.lock and its requirements/ exports after editing pyproject.toml"
	@echo "make kubernetes - re-generate deploy/kubernetes/base/generated/ from the project's files"
	@echo "make ci-cold - .ci/run in a fresh clone with every cache empty (as on a new machine)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv itself comes from requirements/uv.txt, pinned with hashes (exported from uv.lock).
$(UV): requirements/uv.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r requirements/uv.txt
	touch $(UV)

# Exactly the locked versions (hash-checked), the project itself editable.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --frozen --extra dev --extra bench --group uv
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/otel-stack up $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two pytest processes (pytest-xdist), a test file each at a time (its module fixtures start
# once): most tests wait on real processes, so two halve the wall time on 2 cores.
# TEST_PROCESSES=0 runs the suite in this one process.
TEST_PROCESSES ?= 2

test: lint
	$(BIN)/python -m pytest --numprocesses $(TEST_PROCESSES) --dist loadfile

# No test that starts a process (tests/conftest.py marks those e2e).
unit: $(STAMP)
	$(BIN)/python -m pytest tests -m "not e2e" -x -q

proto: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I . \
		--python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(PROTO)

# Re-resolve after editing pyproject.toml's dependencies; also writes the hash-pinned
# exports the Dockerfile (requirements/runtime.txt) and the bootstrap (requirements/uv.txt) use.
lock: $(UV)
	$(UV) lock
	$(UV) export --quiet --frozen --no-dev --no-emit-project -o requirements/runtime.txt
	$(UV) export --quiet --frozen --only-group uv --no-emit-project -o requirements/uv.txt

kubernetes: $(STAMP)
	$(BIN)/python -m otel_stack render-kubernetes --write-generated

prometheus-config: $(STAMP)
	$(BIN)/python -m otel_stack render-prometheus-config --compose > prometheus/prometheus.yml

# The Prometheus and Alertmanager releases the tests and compose run, built from their Go
# modules into the tool cache once (otel_stack/deploy/go_tools.py says which and where).
tools: $(STAMP)
	$(BIN)/otel-stack build-tools

prometheus alertmanager: $(STAMP)
	$(BIN)/otel-stack build-tools $@

# kube-apiserver and etcd, for the API-server dry run of the Kubernetes manifests only:
# built when asked (slow cold), not by `make tools`.
kube-apiserver etcd: $(STAMP)
	$(BIN)/otel-stack build-tools $@

# Built into the tool cache (keyed by otelcol/builder-config.yaml), never into the tree.
collector: $(STAMP)
	$(BIN)/python -m otel_stack.harness.local_collector

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	SOAK_SECONDS=$${SOAK_SECONDS:-300} $(BIN)/python -m pytest tests/reliability -m soak -v

# .ci/run in a fresh clone of HEAD with HOME and every cache pointed at new empty
# directories: proves the project installs everything itself (see .ci/cold).
ci-cold:
	bash .ci/cold

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
