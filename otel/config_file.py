"""The OpenTelemetry configuration file (OTEL_CONFIG_FILE): the same `Telemetry` the variables give.

The file is read by upstream's `opentelemetry-configuration` (the package the
SDK's own configurator uses for OTEL_CONFIG_FILE): YAML parsing, `${VAR}` and
`${VAR:-default}` substitution, validation against the configuration JSON
schema, the `file_format` check (major version 1) and the typed model. This
module turns the model into the project's providers instead of the SDK's
globals, so the services serve Prometheus on their own ports, keep exemplars
on the buckets and the metric contract, as with the variables:

- resource, samplers, span and log processors and their exporters, limits:
  upstream's factories. `service.name` defaults to the service's own name and
  `service.instance.id` to a random id, as with the variables.
- readers: `pull` with `prometheus/development` becomes the project's
  exemplar-keeping reader (order-api: a listener on the file's host and port,
  0.0.0.0:8000 when left out; gateway: its own `/metrics` route); `periodic`
  readers are upstream's (OTLP, console; `default_histogram_aggregation` included).
- views: the file's, then the project's (`otel.views`). A file View that can
  select a contract instrument (`otel.metric_contract`), or Prometheus
  settings that rename or relabel series, are refused with one line: SDK
  Views do not override each other, so the contract cannot be laid on top.
- propagators: the file's; none configured propagates nothing (but keeps
  requests working, unlike an empty composite propagator).

With a file, the SDK's OTEL_* variables are not read (`TelemetrySettings.from_env`
leaves them alone); OTEL_PYTHON_DISABLED_INSTRUMENTATIONS and ACCESS_LOG still
are (the launcher reads the former itself).
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.configuration import ConfigurationError, OpenTelemetryConfiguration

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
    load_config_file,
    substitute_env_vars,
)
from opentelemetry.configuration.models import (
    ExperimentalPrometheusMetricExporter,
    ExperimentalPrometheusTranslationStrategy,
)
from opentelemetry.configuration.models import MeterProvider as MeterProviderConfig
from opentelemetry.configuration.models import MetricReader as MetricReaderConfig
from opentelemetry.configuration.models import View as ViewConfig
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import NoOpTracerProvider, TracerProvider
from prometheus_client import CollectorRegistry

from otel import settings
from otel.access_log import AccessLineWriter, AccessLog
from otel.exemplars import ExemplarPrometheusReader, exemplar_filter
from otel.metric_contract import Selector, first_selected
from otel.sdk import Telemetry
from otel.settings import ConfigError, TelemetrySettings
from otel.views import default_views

logger = logging.getLogger(__name__)

CONFIG_FILE = settings.CONFIG_FILE
_UPSTREAM_LOADER_LOGGER = "opentelemetry.configuration.file._loader"
# The specification also allows `${env:NAME}`; opentelemetry-configuration 0.66b1 leaves it
# unresolved (a literal string), so it is refused rather than used as a value.
_ENV_PREFIXED = re.compile(r"(?<!\$)\$\{env:")
_PROMETHEUS_NAMES = ExperimentalPrometheusTranslationStrategy.underscore_escaping_with_suffixes


def load(path: str) -> OpenTelemetryConfiguration:
    """Parse, substitute and validate the file; ConfigError (one line) if unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise _error(path, f"cannot read it: {reason}") from None
    if _ENV_PREFIXED.search(text):
        raise _error(path, "write ${NAME} instead of ${env:NAME} (not resolved by this SDK)")
    try:
        with _upstream_errors_unlogged():
            return load_config_file(path)
    except ConfigurationError as error:
        raise _error(path, str(error)) from None


def disabled(path: str) -> bool:
    """The file's `disabled` (after substitution), read cheaply; False if it cannot be read.

    For the launcher's distro, which runs before the service does: the service
    reads the whole file and reports any problem in it.
    """
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    value: Any = document.get("disabled") if isinstance(document, dict) else None
    if isinstance(value, str):
        with contextlib.suppress(yaml.YAMLError):
            value = yaml.safe_load(substitute_env_vars(value))
    return value is True


def build_telemetry(
    service_name: str,
    path: str,
    switches: TelemetrySettings,
    *,
    access_log_ratio: float = 1.0,
) -> Telemetry:
    """Build providers and readers from the file at `path`; install nothing.

    `switches` carries what is not in the file format: the instrumentations
    switched off and the Flask excluded URLs; `access_log_ratio` is ACCESS_LOG's.
    Raises ConfigError (one line naming the file) for a file the services cannot use.
    """
    config = load(path)
    if config.disabled:
        return Telemetry.disabled(service_name)
    meter_config = config.meter_provider
    prometheus_exporter = _prometheus_exporter(path, meter_config)
    _refuse_contract_views(path, meter_config)
    if config.instrumentation_development is not None:
        logger.warning(
            "%s=%s: instrumentation/development is not applied; the services add their "
            "instrumentations themselves (switch them off with %s)",
            CONFIG_FILE,
            path,
            settings.DISABLED_INSTRUMENTATIONS,
        )
    try:
        resource = _resource(config, service_name)
        tracer_provider, tracing = _tracer_provider(config, resource)
        logger_provider = _logger_provider(config, resource)
        registry = CollectorRegistry() if prometheus_exporter is not None else None
        meter_provider = SdkMeterProvider(
            metric_readers=_metric_readers(meter_config, registry),
            resource=resource,
            views=_views(meter_config),
            exemplar_filter=_exemplar_filter(meter_config, tracing),
        )
        propagator = _propagator(config)
    except (ConfigurationError, ImportError) as error:
        raise _error(path, str(error)) from None
    access_log = AccessLog(
        access_log_ratio,
        AccessLineWriter(
            str(resource.attributes.get(SERVICE_NAME)), logger_provider=logger_provider
        ),
    )

    def shutdown() -> None:
        access_log.close()
        if isinstance(tracer_provider, SdkTracerProvider):
            tracer_provider.shutdown()
        meter_provider.shutdown()
        if logger_provider is not None:
            logger_provider.shutdown()

    logger.info(
        "telemetry for %s from %s=%s: metrics %s, traces %s, logs %s",
        resource.attributes.get(SERVICE_NAME),
        CONFIG_FILE,
        path,
        ",".join(_reader_names(meter_config)) or "none",
        "on" if tracing else "none",
        "on" if logger_provider is not None else "none",
    )
    return Telemetry(
        service_name=str(resource.attributes.get(SERVICE_NAME, service_name)),
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        prometheus_registry=registry,
        tracing=tracing,
        prometheus_address=_prometheus_address(prometheus_exporter),
        disabled_instrumentations=switches.disabled_instrumentations,
        flask_excluded_urls=switches.flask_excluded_urls,
        logger_provider=logger_provider,
        access_log=access_log,
        propagator=propagator,
        _shutdown=shutdown,
    )


def _error(path: str, problem: str) -> ConfigError:
    one_line = " ".join(problem.split())
    return ConfigError(f"{CONFIG_FILE}={path}: {one_line}")


class _DropErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@contextlib.contextmanager
def _upstream_errors_unlogged() -> Iterator[None]:
    # Upstream logs each error it raises, some with a traceback; the caller reports it in
    # one line instead. Its warnings (a newer minor file_format, say) still show.
    upstream = logging.getLogger(_UPSTREAM_LOADER_LOGGER)
    quiet = _DropErrors()
    upstream.addFilter(quiet)
    try:
        yield
    finally:
        upstream.removeFilter(quiet)


def _prometheus_exporter(
    path: str, config: MeterProviderConfig | None
) -> ExperimentalPrometheusMetricExporter | None:
    """The one `prometheus/development` pull exporter, checked against the contract."""
    pulls = [reader.pull for reader in (config.readers if config else []) if reader.pull]
    if not pulls:
        return None
    if len(pulls) > 1:
        raise _error(path, "more than one pull reader (a service has one /metrics)")
    exporter = pulls[0].exporter.prometheus_development
    if exporter is None:
        raise _error(path, "the only pull exporter supported is prometheus/development")
    if exporter.translation_strategy not in (None, _PROMETHEUS_NAMES):
        raise _error(
            path,
            f"translation_strategy {exporter.translation_strategy.value} would rename the "
            f"metric contract's series (only {_PROMETHEUS_NAMES.value})",
        )
    if exporter.target_info_enabled_development is False:
        raise _error(path, "target_info is part of the metric contract; it cannot be disabled")
    if exporter.resource_constant_labels is not None:
        raise _error(
            path, "resource_constant_labels would add labels to the metric contract's series"
        )
    if exporter.port is not None and not 0 <= exporter.port <= 65535:
        raise _error(path, f"prometheus/development port {exporter.port}: expected 0-65535")
    if exporter.scope_info_enabled:
        logger.warning(
            "%s=%s: scope_info_enabled is overridden: the services' /metrics carry no "
            "otel_scope_* labels",
            CONFIG_FILE,
            path,
        )
    return exporter


def _refuse_contract_views(path: str, config: MeterProviderConfig | None) -> None:
    for position, view in enumerate((config.views or []) if config else []):
        instrument = first_selected(_selector(view))
        if instrument is not None:
            raise _error(
                path,
                f"meter_provider.views[{position}] selects {instrument.name} "
                f"({instrument.scope}), part of the metric contract: narrow its selector "
                "(Views cannot change the contract's names, buckets or labels)",
            )


def _selector(view: ViewConfig) -> Selector:
    selector = view.selector
    return Selector(
        instrument_name=selector.instrument_name,
        instrument_type=selector.instrument_type.value if selector.instrument_type else None,
        unit=selector.unit,
        meter_name=selector.meter_name,
        meter_version=selector.meter_version,
        meter_schema_url=selector.meter_schema_url,
    )


def _resource(config: OpenTelemetryConfiguration, service_name: str) -> Resource:
    resource = create_resource(config.resource)
    defaults: dict[str, str] = {}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = service_name
    if SERVICE_INSTANCE_ID not in resource.attributes:
        defaults[SERVICE_INSTANCE_ID] = str(uuid.uuid4())
    return resource.merge(Resource(defaults)) if defaults else resource


def _tracer_provider(
    config: OpenTelemetryConfiguration, resource: Resource
) -> tuple[TracerProvider, bool]:
    if config.tracer_provider is None or not config.tracer_provider.processors:
        return NoOpTracerProvider(), False
    provider = create_tracer_provider(config.tracer_provider, resource, config.attribute_limits)
    return provider, True


def _logger_provider(
    config: OpenTelemetryConfiguration, resource: Resource
) -> LoggerProvider | None:
    if config.logger_provider is None or not config.logger_provider.processors:
        return None
    provider: LoggerProvider = create_logger_provider(
        config.logger_provider, resource, config.attribute_limits
    )
    return provider


def _metric_readers(
    config: MeterProviderConfig | None, registry: CollectorRegistry | None
) -> list[MetricReader]:
    readers: list[MetricReader] = []
    for reader in config.readers if config else []:
        if reader.pull is not None:
            assert registry is not None
            # As with the variables: no otel_scope_* labels (see otel.sdk).
            readers.append(ExemplarPrometheusReader(scope_info_enabled=False, registry=registry))
        else:
            readers.append(_create_metric_reader(reader))
    return readers


def _reader_names(config: MeterProviderConfig | None) -> list[str]:
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


def _views(config: MeterProviderConfig | None) -> list[Any]:
    own = [_create_view(view) for view in (config.views or [])] if config else []
    return [*own, *default_views()]


def _exemplar_filter(config: MeterProviderConfig | None, tracing: bool) -> Any:
    if config is not None and config.exemplar_filter is not None:
        return _create_exemplar_filter(config.exemplar_filter)
    return exemplar_filter(None, tracing=tracing)


def _prometheus_address(
    exporter: ExperimentalPrometheusMetricExporter | None,
) -> tuple[str, int]:
    if exporter is None:
        return settings.DEFAULT_PROMETHEUS_HOST, settings.DEFAULT_PROMETHEUS_PORT
    host = exporter.host if exporter.host else settings.DEFAULT_PROMETHEUS_HOST
    port = exporter.port if exporter.port is not None else settings.DEFAULT_PROMETHEUS_PORT
    return host, port


def _propagator(config: OpenTelemetryConfiguration) -> TextMapPropagator:
    composite: CompositePropagator = create_propagator(config.propagator)
    if composite._propagators:  # upstream exposes no other way to ask
        return composite
    return NoPropagation()


class NoPropagation(TextMapPropagator):
    """Propagates nothing, as a file without propagators asks.

    An empty `CompositePropagator` returns None from `extract` when given no
    context, which breaks every request the Flask instrumentation serves; this
    returns an empty context instead.
    """

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        return context if context is not None else Context()

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        return None

    @property
    def fields(self) -> set[str]:
        return set()
