"""Suite 1: CPU per request of one gateway route, in process, for each kind of telemetry.

The order-api client is an in-process fake, so only Flask and telemetry are
measured. Variants: no telemetry; the mandated upstream Flask instrumentation
alone, and the same with its metrics dropped by Views (does a Drop view make
the SDK skip the work?); the lean profile (the contract's middleware without
upstream Flask: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=flask); the project's
metrics (upstream + contract middleware), the default profile; the same with
traces exported and the `always_off` sampler (what a request a sampler drops
costs); the project's full telemetry (metrics + tracing through a batch span
processor into a discarding exporter); and
prometheus-flask-exporter on the same app.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry
from prometheus_flask_exporter import PrometheusMetrics
from werkzeug.test import EnvironBuilder

from bench.measure import paired_difference_us, per_call
from otel import settings
from otel.sdk import Telemetry
from otel.views import default_views
from services.proto.orders.v1 import orders_pb2
from services.web_gateway.app import create_app

ORDER_ID = "0123456789abcdef0123456789abcdef"
DROP = DropAggregation()


class FakeClient:
    """Answers get_order in process, like a healthy order-api would."""

    def __init__(self) -> None:
        self._order = orders_pb2.Order(
            id=ORDER_ID,
            customer_id="c-1",
            items=[orders_pb2.OrderItem(sku="sku-1", quantity=2, unit_price_cents=1250)],
            total_cents=2500,
            status=orders_pb2.ORDER_STATUS_CREATED,
        )
        self._order.created_at.FromMicroseconds(1_700_000_000_000_000)

    def get_order(self, order_id: str) -> orders_pb2.Order:
        return self._order

    def check_health(self) -> bool:
        return True

    def close(self) -> None:
        return None


class _DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _metrics_provider(extra_views: Sequence[View] = ()) -> MeterProvider:
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=CollectorRegistry())
    return MeterProvider(metric_readers=[reader], views=[*default_views(), *extra_views])


def _upstream_only(
    client: Any, meter_provider: MeterProvider, tracer_provider: Any = None
) -> Flask:
    """The app with upstream's Flask instrumentation alone (no tracer provider: a no-op one)."""
    app = create_app(client=client)
    FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
        app,
        meter_provider=meter_provider,
        tracer_provider=tracer_provider or NoOpTracerProvider(),
        excluded_urls=settings.flask_excluded_urls({}),
    )
    return app


def _apps() -> tuple[dict[str, Flask], TracerProvider]:
    settings.ensure_stable_http_semconv(os.environ)
    client: Any = FakeClient()
    off = create_app(client=client)

    upstream = _upstream_only(client, _metrics_provider())
    dropped = _upstream_only(
        client, _metrics_provider([View(instrument_name="http.server.*", aggregation=DROP)])
    )
    lean = create_app(
        client=client,
        telemetry=Telemetry(
            "bench",
            _metrics_provider(),
            NoOpTracerProvider(),
            disabled_instrumentations=frozenset({settings.FLASK}),
        ),
    )

    metrics_only = create_app(
        client=client,
        telemetry=Telemetry("bench", _metrics_provider(), NoOpTracerProvider()),
    )

    unsampled_provider = TracerProvider(sampler=ALWAYS_OFF)
    unsampled_provider.add_span_processor(BatchSpanProcessor(_DiscardingExporter()))
    # The mandated instrumentation alone, its spans started by the SDK and all dropped.
    upstream_unsampled = _upstream_only(client, _metrics_provider(), unsampled_provider)
    unsampled = create_app(
        client=client,
        telemetry=Telemetry("bench", _metrics_provider(), unsampled_provider, tracing=True),
    )

    tracer_provider = TracerProvider()
    # Export only when a batch is full (or at the flush ending each of its rounds), so the
    # export thread's CPU falls inside this variant's measured window, not another's.
    tracer_provider.add_span_processor(
        BatchSpanProcessor(_DiscardingExporter(), schedule_delay_millis=3_600_000)
    )
    full = create_app(
        client=client,
        telemetry=Telemetry("bench", _metrics_provider(), tracer_provider, tracing=True),
    )

    exporter_app = create_app(client=client)
    PrometheusMetrics(exporter_app, registry=CollectorRegistry())
    apps = {
        "off": off,
        "upstream_flask_instrumentation": upstream,
        "upstream_flask_metrics_dropped": dropped,
        "upstream_flask_unsampled": upstream_unsampled,
        "lean_contract_only": lean,
        "project_metrics": metrics_only,
        "project_unsampled": unsampled,
        "project_full": full,
        "prometheus_flask_exporter": exporter_app,
    }
    return apps, tracer_provider


def _caller(app: Flask, path: str) -> Callable[[], None]:
    environ = EnvironBuilder(path=path, method="GET").get_environ()

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None, /
    ) -> Callable[[bytes], object]:
        return len

    def call() -> None:
        request_environ = dict(environ)
        request_environ["wsgi.input"] = io.BytesIO()
        body = app(request_environ, start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return call


def run(quick: bool) -> dict[str, Any]:
    """CPU µs per request of each variant, overheads over `off`, and the goal's ratio."""
    apps, tracer_provider = _apps()
    path = f"/orders/{ORDER_ID}"
    results = per_call(
        {name: _caller(app, path) for name, app in apps.items()},
        calls=1000 if quick else 2000,
        rounds=7 if quick else 21,
        end_of_round={"project_full": tracer_provider.force_flush},
    )
    medians = {name: result.median_us for name, result in results.items()}
    overheads = {
        name: paired_difference_us(results, name, "off") for name in medians if name != "off"
    }
    own = paired_difference_us(results, "project_metrics", "upstream_flask_instrumentation")
    own_full = paired_difference_us(results, "project_full", "upstream_flask_instrumentation")
    exporter = overheads["prometheus_flask_exporter"]
    return {
        "cpu_us_per_request": medians,
        "overhead_us": overheads,
        "project_own_metrics_us": own,
        "project_own_full_us": own_full,
        "unsampled_over_default_us": paired_difference_us(
            results, "project_unsampled", "project_metrics"
        ),
        "upstream_unsampled_over_noop_us": paired_difference_us(
            results, "upstream_flask_unsampled", "upstream_flask_instrumentation"
        ),
        "own_metrics_vs_prometheus_flask_exporter": own / exporter,
        "own_full_vs_prometheus_flask_exporter": own_full / exporter,
    }
