"""All OpenTelemetry SDK setup of the project: providers, readers, exporters, runtime metrics.

`configure(service_name)` is called once by each service's entry point, with
or without the `opentelemetry-instrument` launcher (whose instrumentors use
the global providers set here). Everything is chosen by the standard `OTEL_*`
variables; `OTEL_SDK_DISABLED=true` yields a disabled `Telemetry`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NoOpTracerProvider, TracerProvider
from prometheus_client import CollectorRegistry

from otel import exporters, settings
from otel.exporters import TelemetryConfigError
from otel.views import default_views

logger = logging.getLogger(__name__)

__all__ = ["Telemetry", "TelemetryConfigError", "configure"]


@dataclass(frozen=True)
class Telemetry:
    """What a service needs to instrument itself: providers and the Prometheus registry.

    `prometheus_registry` is None when the `prometheus` exporter is not selected.
    `tracing` says whether spans go anywhere (otherwise tracing hooks are skipped).
    """

    service_name: str
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    prometheus_registry: CollectorRegistry | None = None
    tracing: bool = False
    enabled: bool = True
    _shutdown: Callable[[], None] = field(default=lambda: None, repr=False)

    @classmethod
    def disabled(cls, service_name: str) -> Telemetry:
        """Telemetry that records nothing (OTEL_SDK_DISABLED=true)."""
        return cls(service_name, NoOpMeterProvider(), NoOpTracerProvider(), enabled=False)

    def shutdown(self) -> None:
        """Flush and stop exporters: the last spans and metrics are sent before this returns."""
        self._shutdown()


def configure(service_name: str, environ: Mapping[str, str] | None = None) -> Telemetry:
    """Build and install the global providers for this process from OTEL_* variables.

    Raises TelemetryConfigError (one clear line) for unusable values, and when
    another configurator already installed an SDK MeterProvider.
    """
    env = os.environ if environ is None else environ
    if settings.sdk_disabled(env):
        return Telemetry.disabled(service_name)
    metric_names = exporters.metrics_exporter_names(env)
    trace_names = exporters.traces_exporter_names(env)
    if isinstance(metrics.get_meter_provider(), SdkMeterProvider):
        raise TelemetryConfigError(
            "an OpenTelemetry MeterProvider is already installed by another configurator; "
            "run with OTEL_PYTHON_DISTRO=otel_stack OTEL_PYTHON_CONFIGURATOR=otel_stack"
        )
    settings.ensure_stable_http_semconv()
    resource = build_resource(service_name)

    registry = CollectorRegistry() if "prometheus" in metric_names else None
    meter_provider = SdkMeterProvider(
        metric_readers=_metric_readers(metric_names, registry, env),
        resource=resource,
        views=default_views(),
        exemplar_filter=None
        if env.get("OTEL_METRICS_EXEMPLAR_FILTER")
        else AlwaysOffExemplarFilter(),
    )
    metrics.set_meter_provider(meter_provider)

    tracer_provider: TracerProvider = NoOpTracerProvider()
    if trace_names:
        sdk_tracer_provider = SdkTracerProvider(resource=resource)
        for name in trace_names:
            exporter = exporters.span_exporter(name, env)
            sdk_tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(sdk_tracer_provider)
        tracer_provider = sdk_tracer_provider

    _instrument_runtime(meter_provider)

    def shutdown() -> None:
        if isinstance(tracer_provider, SdkTracerProvider):
            tracer_provider.shutdown()
        meter_provider.shutdown()

    logger.info(
        "telemetry for %s: metrics %s, traces %s",
        resource.attributes.get(SERVICE_NAME),
        ",".join(metric_names) or "none",
        ",".join(trace_names) or "none",
    )
    return Telemetry(
        service_name=str(resource.attributes.get(SERVICE_NAME, service_name)),
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        prometheus_registry=registry,
        tracing=bool(trace_names),
        _shutdown=shutdown,
    )


def build_resource(default_service_name: str) -> Resource:
    """The resource from OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME, with the service's defaults.

    The variables win; `service.name` defaults to the service's own name (the
    SDK's default would be `unknown_service`) and `service.instance.id` to a random id.
    """
    detected = Resource.create()
    defaults: dict[str, str] = {}
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = default_service_name
    if SERVICE_INSTANCE_ID not in detected.attributes:
        defaults[SERVICE_INSTANCE_ID] = str(uuid.uuid4())
    return detected.merge(Resource(defaults))


def _metric_readers(
    names: list[str], registry: CollectorRegistry | None, environ: Mapping[str, str]
) -> list[MetricReader]:
    readers: list[MetricReader] = []
    for name in names:
        if name == "prometheus":
            assert registry is not None
            # No otel_scope_* labels: every metric name here has one scope, and the
            # three extra labels on every series make scrapes ~20% larger and slower.
            readers.append(PrometheusMetricReader(scope_info_enabled=False, registry=registry))
        else:
            readers.append(PeriodicExportingMetricReader(exporters.metric_exporter(name, environ)))
    return readers


def _instrument_runtime(meter_provider: MeterProvider) -> None:
    if settings.already_instrumented(SystemMetricsInstrumentor):
        return  # the launcher did it, on the global provider set above
    SystemMetricsInstrumentor(config=settings.RUNTIME_METRICS).instrument(
        meter_provider=meter_provider
    )
