"""Suite 9: what joining the signals costs, exemplars and access lines on versus off.

Per request: the gateway's `GET /orders/<id>` in process (as suite 1) with full
telemetry (tracing into a discarding exporter), three ways in one interleaved
run: exemplars off and no access line; the trace-based exemplar filter (as
deployed with tracing); access lines on, queued and written as JSON to /dev/null
(rendering and writing counted in each round).

Per scrape: N request series (counter + 7-bucket histogram) with one exemplar
each, rendered by the project's reader in OpenMetrics with and without
exemplars, and in the classic text format (which leaves them out).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry

from bench.gateway_path import ORDER_ID, FakeClient, _caller, _DiscardingExporter
from bench.measure import WALL, paired_difference_us, per_call
from otel import settings
from otel.access_log import AccessLineWriter, AccessLog
from otel.exemplars import ExemplarPrometheusReader
from otel.instruments import HttpServerMetrics
from otel.prometheus import render
from otel.sdk import Telemetry
from otel.views import default_views
from otel_stack.harness.scrape import OPENMETRICS_FORMAT, TEXT_FORMAT
from services.web_gateway.app import create_app


def _provider(exemplar_filter: ExemplarFilter) -> tuple[MeterProvider, CollectorRegistry]:
    registry = CollectorRegistry()
    reader = ExemplarPrometheusReader(scope_info_enabled=False, registry=registry)
    provider = MeterProvider(
        metric_readers=[reader], views=default_views(), exemplar_filter=exemplar_filter
    )
    return provider, registry


def _per_request(quick: bool) -> dict[str, Any]:
    settings.ensure_stable_http_semconv(os.environ)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(_DiscardingExporter(), schedule_delay_millis=3_600_000)
    )
    devnull = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115 - closed below
    # Lines are rendered and written at the end of each round, inside its measured window.
    writer = AccessLineWriter("bench", devnull, interval=3600.0)
    variants = {
        "traced": (AlwaysOffExemplarFilter(), AccessLog(0.0)),
        "traced_exemplars": (TraceBasedExemplarFilter(), AccessLog(0.0)),
        "traced_access_log": (AlwaysOffExemplarFilter(), AccessLog(1.0, writer)),
    }
    callers = {}
    for name, (exemplar_filter, access_log) in variants.items():
        provider, _ = _provider(exemplar_filter)
        telemetry = Telemetry(
            "bench", provider, tracer_provider, tracing=True, access_log=access_log
        )
        app = create_app(client=FakeClient(), telemetry=telemetry)  # type: ignore[arg-type]
        callers[name] = _caller(app, f"/orders/{ORDER_ID}")

    def flush_all() -> None:
        tracer_provider.force_flush()
        writer.flush()

    results = per_call(
        callers,
        calls=1000 if quick else 2000,
        rounds=7 if quick else 21,
        end_of_round=dict.fromkeys(callers, flush_all),
    )
    tracer_provider.shutdown()
    writer.close()
    devnull.close()
    return {
        "cpu_us_per_request": {name: result.median_us for name, result in results.items()},
        "exemplars_us": paired_difference_us(results, "traced_exemplars", "traced"),
        "access_log_us": paired_difference_us(results, "traced_access_log", "traced"),
    }


def _registry(count: int, exemplar_filter: ExemplarFilter) -> CollectorRegistry:
    provider, registry = _provider(exemplar_filter)
    metrics = HttpServerMetrics(provider)
    with TracerProvider().get_tracer("bench").start_as_current_span("request"):
        for index in range(count):
            metrics.record("GET", f"/route/{index // 10}", 200 + index % 10, 0.02)
    return registry


def _render(registry: CollectorRegistry, accept: str) -> bytes:
    return render(registry, accept)[0]


def _per_scrape(quick: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for count in (1000,) if quick else (1000, 10000):
        with_exemplars = _registry(count, AlwaysOnExemplarFilter())
        without = _registry(count, AlwaysOffExemplarFilter())
        variants = {
            "openmetrics_without": functools.partial(_render, without, OPENMETRICS_FORMAT),
            "openmetrics_with": functools.partial(_render, with_exemplars, OPENMETRICS_FORMAT),
            "text_with": functools.partial(_render, with_exemplars, TEXT_FORMAT),
        }
        results = per_call(variants, calls=1, rounds=5 if quick else 9, clock=WALL, warmup=1)
        figures[str(count)] = {
            "ms": {name: result.median_us / 1000 for name, result in results.items()},
            "bytes": {name: len(render()) for name, render in variants.items()},
            "exemplar_ratio": results["openmetrics_with"].median_us
            / results["openmetrics_without"].median_us,
        }
    return figures


def run(quick: bool) -> dict[str, Any]:
    """Per-request CPU of exemplars and access lines, and per-scrape cost of exemplars."""
    return {"per_request": _per_request(quick), "per_scrape": _per_scrape(quick)}
