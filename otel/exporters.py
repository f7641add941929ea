"""The push exporters OTEL_METRICS_EXPORTER, _TRACES_ and _LOGS_EXPORTER select, by name.

The SDK's own parser of these variables is private, and its `prometheus` entry
point starts a second HTTP server on localhost:9464; the services serve
Prometheus on their own ports instead, so the choice is made by the project
(`otel.settings` parses the names and protocols; this module builds exporters).
Each exporter reads its own OTEL_EXPORTER_* settings, as the SDK defines.
"""

from __future__ import annotations

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.trace.export import SpanExporter


def metric_exporter(
    name: str, protocol: str, *, otlp_aggregation: dict[type, Aggregation] | None = None
) -> MetricExporter:
    """A push exporter for metrics (`otlp` or `console`); it reads its own OTEL_* settings.

    `otlp_aggregation` is the OTLP exporter's preferred aggregation per instrument
    type (see `otel.histogram_aggregation`); None leaves the exporter's own choice.
    """
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(preferred_aggregation=otlp_aggregation)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpOTLPMetricExporter,
    )

    return HttpOTLPMetricExporter(preferred_aggregation=otlp_aggregation)


def span_exporter(name: str, protocol: str) -> SpanExporter:
    """A span exporter (`otlp` or `console`); it reads its own OTEL_* settings."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpOTLPSpanExporter,
    )

    return HttpOTLPSpanExporter()


def log_exporter(name: str, protocol: str) -> LogRecordExporter:
    """A log record exporter (`otlp` or `console`); it reads its own OTEL_* settings."""
    if name == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

        return ConsoleLogRecordExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpOTLPLogExporter,
    )

    return HttpOTLPLogExporter()
