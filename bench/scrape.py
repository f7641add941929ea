"""Suite 4 (synthetic part): N histogram+counter series, the project's reader vs prometheus_client.

Both registries hold the same series — the contract's request counter and
duration histogram over N label sets — and render the same text format. The
project's reader is upstream's OTel Prometheus reader plus exemplars
(`otel.exemplars`), as the services run it; exemplars are off here (suite 8
measures them).
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bench.measure import per_call
from otel.exemplars import ExemplarPrometheusReader
from otel.instruments import DURATION_BUCKETS, HttpServerMetrics
from otel.views import default_views


def _label_sets(count: int) -> list[tuple[str, str, str]]:
    return [("GET", f"/route/{index // 10}", str(200 + index % 10)) for index in range(count)]


def _otel_registry(count: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    reader = ExemplarPrometheusReader(scope_info_enabled=False, registry=registry)
    provider = MeterProvider(
        metric_readers=[reader], views=default_views(), exemplar_filter=AlwaysOffExemplarFilter()
    )
    metrics = HttpServerMetrics(provider)
    for method, route, status in _label_sets(count):
        metrics.record(method, route, int(status), 0.02)
    return registry


def _client_registry(count: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    labels = ("method", "route", "status_code")
    requests = Counter("http_requests", "HTTP requests.", labels, registry=registry)
    duration = Histogram(
        "http_request_duration_seconds",
        "HTTP request duration.",
        labels,
        buckets=DURATION_BUCKETS,
        registry=registry,
    )
    for label_values in _label_sets(count):
        requests.labels(*label_values).inc()
        duration.labels(*label_values).observe(0.02)
    return registry


def run(quick: bool) -> dict[str, Any]:
    """Render CPU time (ms) and size (bytes) at each series count, and the ratio OTel / client."""
    figures: dict[str, Any] = {}
    for count in (1000,) if quick else (1000, 10000):
        otel, client = _otel_registry(count), _client_registry(count)
        results = per_call(
            {
                "otel": functools.partial(generate_latest, otel),
                "client": functools.partial(generate_latest, client),
            },
            calls=1,
            rounds=5 if quick else 15,
            warmup=1,
        )
        figures[str(count)] = {
            "otel_ms": results["otel"].median_us / 1000,
            "prometheus_client_ms": results["client"].median_us / 1000,
            "ratio": results["otel"].median_us / results["client"].median_us,
            "otel_bytes": len(generate_latest(otel)),
            "prometheus_client_bytes": len(generate_latest(client)),
        }
    return figures
