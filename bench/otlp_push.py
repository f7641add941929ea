"""Suite 6: pushing metrics over OTLP to the real collector versus Prometheus pulling them.

Two meter providers hold the same series (the contract's request counter and
duration histogram over the same label sets, the project's views): one read by
the Prometheus reader (pull: each scrape renders the text format), one by a
periodic OTLP/gRPC reader exporting to the collector built from
otelcol/builder-config.yaml (push: each export collects and sends a protobuf
request). Interleaved in one run, in CPU time of this process:

- per scrape / per export: `generate_latest` versus a forced export;
- per request: recording one request into each provider (the reader is not on the
  request path, so both should cost the same);
- amortised per request at the compose traffic rate (20 requests/s): scrapes every
  15 s, exports every 60 s (the SDK default) and every 15 s (compose's setting).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from prometheus_client import CollectorRegistry, generate_latest

from bench.measure import paired_difference_us, per_call
from otel.instruments import HttpServerMetrics
from otel.views import default_views
from otel_stack.harness import local_collector as collector
from otel_stack.harness import processes

SERIES = 100  # label sets, about the gateway's after a day of the realistic mix
RATE = 20.0  # requests/s of the compose load generator
INTERVALS_S = {"pull_15s": 15.0, "push_60s": 60.0, "push_15s": 15.0}
NEVER_MS = 24 * 3600 * 1000.0  # exports happen only when forced


def _label_sets() -> list[tuple[str, str, int]]:
    return [("GET", f"/route/{index // 10}", 200 + index % 10) for index in range(SERIES)]


def _fill(metrics: HttpServerMetrics) -> None:
    for method, route, status in _label_sets():
        metrics.record(method, route, status, 0.02)


def run(quick: bool) -> dict[str, Any]:
    """CPU µs per scrape/export and per request; None figures when no collector is built."""
    binary = collector.built_binary()
    if binary is None:
        return {"skipped": "no collector built (make collector)"}
    with tempfile.TemporaryDirectory(prefix="bench-otlp-") as scratch:
        ports = collector.CollectorPorts.free()
        spec = collector.spec(binary, Path(scratch), ports, traces_endpoint="127.0.0.1:9")
        service = processes.start(spec, timeout=30)
        try:
            return _measure(ports.otlp_endpoint, quick)
        finally:
            service.stop(grace=10)


def _measure(endpoint: str, quick: bool) -> dict[str, Any]:
    registry = CollectorRegistry()
    pull_reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    pull = MeterProvider(metric_readers=[pull_reader], views=default_views())
    push_reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=NEVER_MS
    )
    push = MeterProvider(metric_readers=[push_reader], views=default_views())
    pull_metrics, push_metrics = HttpServerMetrics(pull), HttpServerMetrics(push)
    _fill(pull_metrics)
    _fill(push_metrics)
    try:
        return _figures(
            per_call(
                {"scrape": lambda: generate_latest(registry), "export": push_reader.force_flush},
                calls=1,
                rounds=15 if quick else 41,
                warmup=3,
            ),
            per_call(
                {
                    "pull": lambda: pull_metrics.record("GET", "/route/1", 200, 0.02),
                    "push": lambda: push_metrics.record("GET", "/route/1", 200, 0.02),
                },
                calls=2000,
                rounds=9 if quick else 21,
            ),
        )
    finally:
        push.shutdown()
        pull.shutdown()


def _figures(per_collection: dict[str, Any], per_request: dict[str, Any]) -> dict[str, Any]:
    scrape_us = per_collection["scrape"].median_us
    export_us = per_collection["export"].median_us
    record = {name: result.median_us for name, result in per_request.items()}
    per_interval = {"pull_15s": scrape_us, "push_60s": export_us, "push_15s": export_us}
    amortised = {
        name: record["pull" if name.startswith("pull") else "push"]
        + per_interval[name] / (RATE * seconds)
        for name, seconds in INTERVALS_S.items()
    }
    return {
        "series": SERIES,
        "rate": RATE,
        "scrape_us": scrape_us,
        "export_us": export_us,
        "export_over_scrape": export_us / scrape_us,
        "record_pull_us": record["pull"],
        "record_push_us": record["push"],
        "record_push_minus_pull_us": paired_difference_us(per_request, "push", "pull"),
        "amortised_us": amortised,
        "amortised_over_pull": {
            name: value / amortised["pull_15s"] for name, value in amortised.items()
        },
    }
