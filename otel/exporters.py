"""Exporters chosen by the standard variables OTEL_METRICS_EXPORTER, _TRACES_ and _LOGS_EXPORTER.

The SDK's own parser of these variables is private, and its `prometheus` entry
point starts a second HTTP server on localhost:9464; the services serve
Prometheus on their own ports instead, so the choice is made here. Names and
defaults follow the specification, with one documented deviation: traces
and logs default to `none`, so a service without a collector does not log export errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.trace.export import SpanExporter

METRICS_EXPORTERS = ("prometheus", "otlp", "console", "none")
TRACES_EXPORTERS = ("otlp", "console", "none")
LOGS_EXPORTERS = ("otlp", "console", "none")
METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"
OTLP_PROTOCOLS = ("grpc", "http/protobuf")


class TelemetryConfigError(ValueError):
    """An OTEL_* variable with a value the services cannot use; the message names it."""


def exporter_names(
    environ: Mapping[str, str], variable: str, valid: tuple[str, ...], default: str
) -> list[str]:
    """Parse a comma-separated exporter list; `none` alone means no exporter."""
    raw = environ.get(variable, "").strip() or default
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in valid:
            raise TelemetryConfigError(
                f"{variable}={raw!r}: unknown exporter {name!r} (valid: {', '.join(valid)})"
            )
    if "none" in names and len(names) > 1:
        raise TelemetryConfigError(f"{variable}={raw!r}: 'none' cannot be combined with others")
    return [] if names == ["none"] else list(dict.fromkeys(names))


def metrics_exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The metric exporters OTEL_METRICS_EXPORTER selects (`prometheus` unless set; [] for none)."""
    return exporter_names(environ, METRICS_EXPORTER, METRICS_EXPORTERS, "prometheus")


def traces_exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters OTEL_TRACES_EXPORTER selects (none unless set; see the module doc)."""
    return exporter_names(environ, TRACES_EXPORTER, TRACES_EXPORTERS, "none")


def logs_exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The log exporters OTEL_LOGS_EXPORTER selects (none unless set, as for traces)."""
    return exporter_names(environ, LOGS_EXPORTER, LOGS_EXPORTERS, "none")


def otlp_protocol(environ: Mapping[str, str], signal: str) -> str:
    """The OTLP protocol for `signal` ("metrics", "traces" or "logs"); gRPC unless set."""
    for variable in (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        value = environ.get(variable, "").strip()
        if value:
            if value not in OTLP_PROTOCOLS:
                valid = ", ".join(OTLP_PROTOCOLS)
                raise TelemetryConfigError(f"{variable}={value!r}: unsupported (valid: {valid})")
            return value
    return "grpc"


def metric_exporter(
    name: str,
    environ: Mapping[str, str],
    *,
    otlp_aggregation: dict[type, Aggregation] | None = None,
) -> MetricExporter:
    """A push exporter for metrics (`otlp` or `console`); it reads its own OTEL_* settings.

    `otlp_aggregation` is the OTLP exporter's preferred aggregation per instrument
    type (see `otel.histogram_aggregation`); None leaves the exporter's own choice.
    """
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    if otlp_protocol(environ, "metrics") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(preferred_aggregation=otlp_aggregation)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpOTLPMetricExporter,
    )

    return HttpOTLPMetricExporter(preferred_aggregation=otlp_aggregation)


def span_exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    """A span exporter (`otlp` or `console`); it reads its own OTEL_* settings."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if otlp_protocol(environ, "traces") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpOTLPSpanExporter,
    )

    return HttpOTLPSpanExporter()


def log_exporter(name: str, environ: Mapping[str, str]) -> LogRecordExporter:
    """A log record exporter (`otlp` or `console`); it reads its own OTEL_* settings."""
    if name == "console":
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

        return ConsoleLogRecordExporter()
    if otlp_protocol(environ, "logs") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpOTLPLogExporter,
    )

    return HttpOTLPLogExporter()
