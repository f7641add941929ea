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

This module loads the file and assembles the `Telemetry`; what the file may not
change is checked in `otel.config_file_checks`, the providers are built in
`otel.config_file_providers`.

With a file, the SDK's OTEL_* variables are not read (`TelemetrySettings.from_env`
leaves them alone); OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, the instrumentations' own
variables (OTEL_PYTHON_FLASK_EXCLUDED_URLS, OTEL_PYTHON_GRPC_EXCLUDED_SERVICES) and
ACCESS_LOG still are (the launcher and upstream's instrumentors read theirs themselves).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.configuration import ConfigurationError, OpenTelemetryConfiguration
from opentelemetry.configuration.file import load_config_file, substitute_env_vars
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME
from prometheus_client import CollectorRegistry

from otel import config_file_providers as providers
from otel import settings
from otel.access_log import service_access_log
from otel.config_file_checks import file_error, prometheus_exporter, refuse_contract_views
from otel.sdk import Telemetry
from otel.settings import TelemetrySettings
from otel.shutdown import shutdown_in_order

logger = logging.getLogger(__name__)

CONFIG_FILE = settings.CONFIG_FILE
_UPSTREAM_LOADER_LOGGER = "opentelemetry.configuration.file._loader"
# The specification also allows `${env:NAME}`; opentelemetry-configuration 0.66b1 leaves it
# unresolved (a literal string), so it is refused rather than used as a value.
_ENV_PREFIXED = re.compile(r"(?<!\$)\$\{env:")


def load(path: str) -> OpenTelemetryConfiguration:
    """Parse, substitute and validate the file; ConfigError (one line) if unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise file_error(path, f"cannot read it: {reason}") from None
    if _ENV_PREFIXED.search(text):
        raise file_error(path, "write ${NAME} instead of ${env:NAME} (not resolved by this SDK)")
    try:
        with _upstream_errors_unlogged():
            return load_config_file(path)
    except ConfigurationError as error:
        raise file_error(path, str(error)) from None


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
    worker_index: int | None = None,
) -> Telemetry:
    """Build providers and readers from the file at `path`; install nothing.

    `switches` carries what is not in the file format: the instrumentations
    switched off, the Flask excluded URLs and the gRPC excluded services;
    `access_log_ratio` is ACCESS_LOG's; `worker_index` a worker's (its
    `service.instance.id` gets the index).
    Raises ConfigError (one line naming the file) for a file the services cannot use.
    """
    config = load(path)
    if config.disabled:
        return Telemetry.disabled(service_name)
    meter_config = config.meter_provider
    exporter = prometheus_exporter(path, meter_config)
    refuse_contract_views(path, meter_config)
    if config.instrumentation_development is not None:
        logger.warning(
            "%s=%s: instrumentation/development is not applied; the services add their "
            "instrumentations themselves (switch them off with %s)",
            CONFIG_FILE,
            path,
            settings.DISABLED_INSTRUMENTATIONS,
        )
    try:
        resource = providers.resource(config, service_name, worker_index)
        tracer_provider, tracing = providers.tracer_provider(config, resource)
        logger_provider = providers.logger_provider(config, resource)
        registry = CollectorRegistry() if exporter is not None else None
        meter_provider = SdkMeterProvider(
            metric_readers=providers.metric_readers(meter_config, registry),
            resource=resource,
            views=providers.views(meter_config),
            exemplar_filter=providers.metric_exemplar_filter(meter_config, tracing),
        )
        propagator = providers.propagator(config)
    except (ConfigurationError, ImportError) as error:
        raise file_error(path, str(error)) from None
    access_log = service_access_log(access_log_ratio, resource, logger_provider)
    logger.info(
        "telemetry for %s from %s=%s: metrics %s, traces %s, logs %s",
        resource.attributes.get(SERVICE_NAME),
        CONFIG_FILE,
        path,
        ",".join(providers.reader_names(meter_config)) or "none",
        "on" if tracing else "none",
        "on" if logger_provider is not None else "none",
    )
    return Telemetry(
        service_name=str(resource.attributes.get(SERVICE_NAME, service_name)),
        meter_provider=meter_provider,
        tracer_provider=tracer_provider,
        prometheus_registry=registry,
        tracing=tracing,
        prometheus_address=providers.prometheus_address(exporter),
        disabled_instrumentations=switches.disabled_instrumentations,
        flask_excluded_urls=switches.flask_excluded_urls,
        grpc_excluded_services=switches.grpc_excluded_services,
        logger_provider=logger_provider,
        access_log=access_log,
        propagator=propagator,
        _shutdown=shutdown_in_order(access_log, tracer_provider, meter_provider, logger_provider),
    )


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
