# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO := services/proto/orders/v1/orders.proto
DURATION ?=
OTLP ?=
RUN_ARGS := $(if $(DURATION),--duration $(DURATION),) $(if $(OTLP),--otlp,)

.PHONY: help venv run test lint typecheck unit proto prometheus-config collector bench soak clean

help:
	@echo "make run    - set up .venv and run the stack (make run DURATION=20 stops after 20 s;"
	@echo "              make run OTLP=1 sends metrics and traces through a local collector)"
	@echo "make test   - set up .venv with the dev extra, lint, type check and run all tests"
	@echo "make bench  - run the benchmark suite (writes bench/results/ and docs/benchmarks.md)"
	@echo "make soak   - the minutes-long soak test"
	@echo "make proto  - regenerate the committed protobuf code"
	@echo "make collector - build the OpenTelemetry Collector (needs Go); prints its path last"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/otel-stack up $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/reliability -x -q

proto: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I . \
		--python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(PROTO)

prometheus-config: $(STAMP)
	$(BIN)/python -m services.stack render-prometheus-config --compose > prometheus/prometheus.yml

# Built into the tool cache (keyed by otelcol/builder-config.yaml), never into the tree.
collector: $(STAMP)
	$(BIN)/python -m services.stack.collector

bench: $(STAMP)
	$(BIN)/python -m bench

soak: $(STAMP)
	SOAK_SECONDS=$${SOAK_SECONDS:-300} $(BIN)/python -m pytest tests/reliability -m soak -v

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
