"""All OpenTelemetry SDK setup of the project: providers, readers, exporters, runtime metrics.

Two steps, called by each service's entry point, with or without the
`opentelemetry-instrument` launcher (any other instrumentor it loads uses the
global providers installed here):

- `build_telemetry(service_name, settings)` builds providers and readers from
  the `TelemetrySettings` the service parsed from its environment. It changes
  no global state, so tests call it in process with the settings they want
  (the SDK's own components, such as the resource detector and the OTLP
  exporters, still read their settings from `os.environ`, as the SDK defines).
- `install(telemetry)` makes them the process's global providers, opts in to
  the stable HTTP semantic conventions and starts the runtime metrics (unless
  OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names `system_metrics`).

`OTEL_SDK_DISABLED=true` yields a disabled `Telemetry`, which `install` leaves alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from opentelemetry import metrics, propagate, trace
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NoOpTracerProvider, TracerProvider
from prometheus_client import CollectorRegistry

from otel import exporters, histogram_aggregation, logs, otlp_tls, settings
from otel.access_log import AccessLog, service_access_log
from otel.exemplars import ExemplarPrometheusReader, exemplar_filter
from otel.resource_defaults import with_service_defaults
from otel.settings import ConfigError, TelemetrySettings
from otel.shutdown import shutdown_in_order
from otel.views import default_views

logger = logging.getLogger(__name__)

__all__ = ["Telemetry", "build_and_install", "build_telemetry", "install"]


@dataclass(frozen=True)
class Telemetry:
    """What a service needs to instrument itself: providers and the Prometheus registry.

    `prometheus_registry` is None when the `prometheus` exporter is not selected;
    `prometheus_address` is where a service with a metrics listener of its own
    serves it (OTEL_EXPORTER_PROMETHEUS_HOST/PORT). `tracing` says whether spans
    go anywhere (otherwise tracing hooks are skipped). `disabled_instrumentations`
    holds the names of OTEL_PYTHON_DISABLED_INSTRUMENTATIONS; `uses` answers for
    each upstream instrumentation the services add; `flask_excluded_urls` is what
    the Flask instrumentation leaves out, `grpc_excluded_services` the gRPC services
    traced by neither side (OTEL_PYTHON_GRPC_EXCLUDED_SERVICES). `logger_provider` exports
    log records (OTEL_LOGS_EXPORTER; None for `none`); `access_log` says which
    requests get an access line (ACCESS_LOG). `propagator` replaces the
    global one when set (a configuration file's; the variables leave
    OTEL_PROPAGATORS to the API).
    """

    service_name: str
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    prometheus_registry: CollectorRegistry | None = None
    tracing: bool = False
    enabled: bool = True
    prometheus_address: tuple[str, int] = (
        settings.DEFAULT_PROMETHEUS_HOST,
        settings.DEFAULT_PROMETHEUS_PORT,
    )
    disabled_instrumentations: frozenset[str] = frozenset()
    flask_excluded_urls: str = field(default_factory=lambda: settings.flask_excluded_urls({}))
    grpc_excluded_services: frozenset[str] = frozenset()
    logger_provider: LoggerProvider | None = None
    access_log: AccessLog = field(default_factory=AccessLog)
    propagator: TextMapPropagator | None = None
    _shutdown: Callable[[], None] = field(default=lambda: None, repr=False)

    @classmethod
    def disabled(cls, service_name: str) -> Telemetry:
        """Telemetry that records nothing (OTEL_SDK_DISABLED=true)."""
        return cls(
            service_name,
            NoOpMeterProvider(),
            NoOpTracerProvider(),
            enabled=False,
        )

    def uses(self, instrumentation: str) -> bool:
        """Whether the services add this upstream instrumentation (a launcher entry-point name).

        The same answer in both start paths: never with telemetry disabled or when
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names it; the span-only gRPC
        instrumentations only when spans go somewhere.
        """
        if not self.enabled:
            return False
        if settings.is_disabled(instrumentation, self.disabled_instrumentations):
            return False
        return self.tracing or instrumentation not in settings.SPAN_ONLY_INSTRUMENTATIONS

    def shutdown(self) -> None:
        """Flush and stop exporters: the last spans and metrics are sent before this returns."""
        self._shutdown()


def build_telemetry(
    service_name: str,
    config: TelemetrySettings,
    *,
    access_log_ratio: float = 1.0,
    worker_index: int | None = None,
) -> Telemetry:
    """Build providers and readers as `config` says; install nothing.

    `access_log_ratio` is the fraction of requests with an access line (the
    services' ACCESS_LOG). Raises ConfigError naming an OTLP certificate or key
    variable whose file cannot be used. Exporters may start their export threads: call
    `shutdown()` on the result when done. With OTEL_CONFIG_FILE set
    (`config.config_file`), the file decides instead (`otel.config_file`).
    `worker_index` is set in a worker process of a service run as several
    (see `otel.resource_defaults`; with the variables or a configuration file).
    """
    if config.config_file is not None:
        # Imported here: the file's parser and schema cost start-up time only where used.
        from otel import config_file  # noqa: PLC0415

        return config_file.build_telemetry(
            service_name,
            config.config_file,
            config,
            access_log_ratio=access_log_ratio,
            worker_index=worker_index,
        )
    if config.sdk_disabled:
        return Telemetry.disabled(service_name)
    metric_names = list(config.metrics_exporters)
    trace_names = list(config.traces_exporters)
    # The OTLP exporters read their certificate files from os.environ themselves (as the
    # SDK defines); unusable ones stop the start here, with one line naming the variable.
    selected = {"metrics": metric_names, "traces": trace_names, "logs": config.logs_exporters}
    otlp_tls.check_files(
        os.environ, [name for name, chosen in selected.items() if "otlp" in chosen]
    )
    resource = build_resource(service_name, worker_index=worker_index)

    registry = CollectorRegistry() if "prometheus" in metric_names else None
    meter_provider = SdkMeterProvider(
        metric_readers=_metric_readers(metric_names, registry, config),
        resource=resource,
        views=default_views(),
        exemplar_filter=exemplar_filter(config.exemplar_filter, tracing=bool(trace_names)),
    )
    tracer_provider: TracerProvider = NoOpTracerProvider()
    if trace_names:
        sdk_tracer_provider = SdkTracerProvider(resource=resource)
        for name in trace_names:
            exporter = exporters.span_exporter(name, config.traces_protocol)
            sdk_tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer_provider = sdk_tracer_provider
    logger_provider = logs.build_logger_provider(
        resource, config.logs_exporters, config.logs_protocol
    )
    access_log = service_access_log(access_log_ratio, resource, logger_provider)
    shutdown = shutdown_in_order(access_log, tracer_provider, meter_provider, logger_provider)

    logger.info(
        "telemetry for %s: metrics %s, traces %s, logs %s",
        resource.attributes.get(SERVICE_NAME),
        ",".join(metric_names) or "none",
        ",".join(trace_names) or "none",
        ",".join(config.logs_exporters) or "none",
    )
    return Telemetry(
        service_name=str(resource.attributes.get(SERVICE_NAME, service_name)),
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        prometheus_registry=registry,
        tracing=bool(trace_names),
        prometheus_address=config.prometheus_address,
        disabled_instrumentations=config.disabled_instrumentations,
        flask_excluded_urls=config.flask_excluded_urls,
        grpc_excluded_services=config.grpc_excluded_services,
        logger_provider=logger_provider,
        access_log=access_log,
        _shutdown=shutdown,
    )


def install(telemetry: Telemetry, environ: MutableMapping[str, str] = os.environ) -> None:
    """Make `telemetry`'s providers the process's global ones and start the runtime metrics.

    Also opts `environ` in to the stable HTTP semantic conventions (read by the
    Flask instrumentation when it first instruments). Raises ConfigError
    when another configurator already installed an SDK MeterProvider. A disabled
    `Telemetry` installs nothing.
    """
    if not telemetry.enabled:
        return
    if isinstance(metrics.get_meter_provider(), SdkMeterProvider):
        raise ConfigError(
            "an OpenTelemetry MeterProvider is already installed by another configurator; "
            "run with OTEL_PYTHON_DISTRO=otel_stack OTEL_PYTHON_CONFIGURATOR=otel_stack"
        )
    settings.ensure_stable_http_semconv(environ)
    metrics.set_meter_provider(telemetry.meter_provider)
    if telemetry.propagator is not None:
        propagate.set_global_textmap(telemetry.propagator)
    if telemetry.tracing:
        trace.set_tracer_provider(telemetry.tracer_provider)
    if telemetry.uses(settings.SYSTEM_METRICS):
        _instrument_runtime(telemetry.meter_provider)


def build_and_install(
    service_name: str,
    config: TelemetrySettings,
    *,
    access_log_ratio: float = 1.0,
    worker_index: int | None = None,
    environ: MutableMapping[str, str] = os.environ,
) -> Telemetry:
    """What a service's entry point does: `build_telemetry`, then `install`.

    Raises ConfigError when installing is refused, after shutting down what was built.
    """
    telemetry = build_telemetry(
        service_name, config, access_log_ratio=access_log_ratio, worker_index=worker_index
    )
    try:
        install(telemetry, environ)
    except ConfigError:
        telemetry.shutdown()
        raise
    return telemetry


def build_resource(default_service_name: str, *, worker_index: int | None = None) -> Resource:
    """The resource from OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME, with the service's defaults.

    The variables win; see `otel.resource_defaults` for the defaults and the per-worker id.
    """
    return with_service_defaults(Resource.create(), default_service_name, worker_index=worker_index)


def _metric_readers(
    names: list[str], registry: CollectorRegistry | None, config: TelemetrySettings
) -> list[MetricReader]:
    readers: list[MetricReader] = []
    for name in names:
        if name == "prometheus":
            assert registry is not None
            # No otel_scope_* labels: every metric name here has one scope, and three
            # extra labels on every series make scrapes larger and slower (docs/benchmarks.md).
            readers.append(ExemplarPrometheusReader(scope_info_enabled=False, registry=registry))
        else:
            exporter = exporters.metric_exporter(
                name,
                config.metrics_protocol,
                otlp_aggregation=histogram_aggregation.otlp_preferred_aggregation(
                    config.histogram_aggregation
                ),
            )
            readers.append(PeriodicExportingMetricReader(exporter))
    return readers


def _instrument_runtime(meter_provider: MeterProvider) -> None:
    if settings.already_instrumented(SystemMetricsInstrumentor):
        return  # something else (another distro, say) did it; twice would count twice
    SystemMetricsInstrumentor(config=settings.RUNTIME_METRICS).instrument(
        meter_provider=meter_provider
    )
