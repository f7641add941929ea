"""The project's providers and readers from a parsed OpenTelemetry configuration file.

Upstream's factories (`opentelemetry-configuration`) build the resource, the
tracer and logger providers, the periodic readers, the file's Views, its
exemplar filter and its propagators; this module adds what makes them the
project's: `service.name` and `service.instance.id` defaults as with the
variables, the exemplar-keeping Prometheus reader for a pull reader, the
project's Views after the file's, and a propagator that keeps requests working
when the file configures none.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.configuration import OpenTelemetryConfiguration

# Upstream has no public factory for one reader, one View or the exemplar filter (only for
# a whole MeterProvider, which would start its own Prometheus server): these three are
# private, in a package pinned with the SDK it belongs to; the tests cover each.
from opentelemetry.configuration._meter_provider import (
    _create_exemplar_filter,
    _create_metric_reader,
    _create_view,
)
from opentelemetry.configuration.file import (
    create_logger_provider,
    create_propagator,
    create_resource,
    create_tracer_provider,
)
from opentelemetry.configuration.models import ExperimentalPrometheusMetricExporter
from opentelemetry.configuration.models import MeterProvider as MeterProviderConfig
from opentelemetry.configuration.models import MetricReader as MetricReaderConfig
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NoOpTracerProvider, TracerProvider
from prometheus_client import CollectorRegistry

from otel import settings
from otel.exemplars import ExemplarPrometheusReader, exemplar_filter
from otel.no_propagation import NoPropagation
from otel.resource_defaults import with_service_defaults
from otel.views import default_views


def resource(
    config: OpenTelemetryConfiguration, service_name: str, worker_index: int | None = None
) -> Resource:
    """The file's resource with the service's defaults (`otel.resource_defaults`)."""
    return with_service_defaults(
        create_resource(config.resource), service_name, worker_index=worker_index
    )


def tracer_provider(
    config: OpenTelemetryConfiguration, resource: Resource
) -> tuple[TracerProvider, bool]:
    """The file's tracer provider and whether spans go anywhere (no processors: a no-op one)."""
    if config.tracer_provider is None or not config.tracer_provider.processors:
        return NoOpTracerProvider(), False
    provider = create_tracer_provider(config.tracer_provider, resource, config.attribute_limits)
    return provider, True


def logger_provider(
    config: OpenTelemetryConfiguration, resource: Resource
) -> LoggerProvider | None:
    """The file's logger provider; None when it exports no logs."""
    if config.logger_provider is None or not config.logger_provider.processors:
        return None
    provider: LoggerProvider = create_logger_provider(
        config.logger_provider, resource, config.attribute_limits
    )
    return provider


def metric_readers(
    config: MeterProviderConfig | None, registry: CollectorRegistry | None
) -> list[MetricReader]:
    """The file's readers; a pull reader becomes the exemplar-keeping one on `registry`."""
    readers: list[MetricReader] = []
    for reader in config.readers if config else []:
        if reader.pull is not None:
            assert registry is not None
            # As with the variables: no otel_scope_* labels (see otel.sdk).
            readers.append(ExemplarPrometheusReader(scope_info_enabled=False, registry=registry))
        else:
            readers.append(_create_metric_reader(reader))
    return readers


def reader_names(config: MeterProviderConfig | None) -> list[str]:
    """The file's readers by exporter name, for the start-up log line."""
    return [_reader_name(reader) for reader in (config.readers if config else [])]


def _reader_name(reader: MetricReaderConfig) -> str:
    if reader.pull is not None:
        return "prometheus"
    assert reader.periodic is not None
    exporter = reader.periodic.exporter
    for name in ("otlp_grpc", "otlp_http", "console", "otlp_file_development"):
        if getattr(exporter, name, None) is not None:
            return name
    return ",".join(exporter.additional_properties) or "periodic"


def views(config: MeterProviderConfig | None) -> list[Any]:
    """The file's Views, then the project's."""
    own = [_create_view(view) for view in (config.views or [])] if config else []
    return [*own, *default_views()]


def metric_exemplar_filter(config: MeterProviderConfig | None, tracing: bool) -> Any:
    """The file's exemplar filter, else the project's default for this tracing state."""
    if config is not None and config.exemplar_filter is not None:
        return _create_exemplar_filter(config.exemplar_filter)
    return exemplar_filter(None, tracing=tracing)


def prometheus_address(
    exporter: ExperimentalPrometheusMetricExporter | None,
) -> tuple[str, int]:
    """Where the order-api's own metrics listener binds (the defaults where the file is silent)."""
    if exporter is None:
        return settings.DEFAULT_PROMETHEUS_HOST, settings.DEFAULT_PROMETHEUS_PORT
    host = exporter.host if exporter.host else settings.DEFAULT_PROMETHEUS_HOST
    port = exporter.port if exporter.port is not None else settings.DEFAULT_PROMETHEUS_PORT
    return host, port


def propagator(config: OpenTelemetryConfiguration) -> TextMapPropagator:
    """The file's propagators; none configured propagates nothing (`NoPropagation`)."""
    composite: CompositePropagator = create_propagator(config.propagator)
    if composite._propagators:  # upstream exposes no other way to ask
        return composite
    return NoPropagation()
