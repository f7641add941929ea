"""The collector's failure counters, read from the built binary: the names the alerts use.

`otelcol_exporter_send_failed_*` exists only after a failed send, so a healthy
run cannot show it. Here the trace exporter points at a closed port with retries
off (`--set`), the metrics pipeline also sends through it, and one span and one
metric point are pushed: the collector's own endpoint must then carry every
failure series the dashboard and the alerts read.
"""

from __future__ import annotations

from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_stack.harness.running import free_port
from otel_stack.harness.scrape import fetch
from tests.deploy.promql import FAILURE_ONLY_SERIES
from tests.support.collector import running_collector
from tests.support.polling import wait_until

EXPORTER = "otlp_grpc/jaeger"
OVERRIDES = (
    f"exporters::{EXPORTER}::retry_on_failure::enabled=false",
    f"service::pipelines::metrics::exporters=[prometheus, {EXPORTER}]",
)


def _push_one_span_and_one_point(endpoint: str) -> None:
    resource = Resource.create({"service.name": "failure-test"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    )
    tracer_provider.get_tracer(__name__).start_span("one").end()
    tracer_provider.shutdown()
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=60_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter_provider.get_meter(__name__).create_counter("pushed").add(1)
    meter_provider.shutdown()  # exports once


def test_failed_sends_show_under_the_names_the_alerts_use(tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    with running_collector(tmp_path, traces_endpoint=closed, overrides=OVERRIDES) as collector:
        _push_one_span_and_one_point(collector.ports.otlp_endpoint)
        url = f"http://{collector.ports.telemetry_target}/metrics"

        def failures() -> set[str]:
            lines = [line for line in fetch(url).splitlines() if not line.startswith("#")]
            return {
                name
                for name in FAILURE_ONLY_SERIES
                for line in lines
                if line.startswith(f"{name}{{") and f'exporter="{EXPORTER}"' in line
            }

        wait_until(lambda: failures() == FAILURE_ONLY_SERIES, 20, "both failure counters")
