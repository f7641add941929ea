"""The project's reading of the standard OTEL_* variables, shared by both start paths.

`TelemetrySettings.from_env` parses, once, every OTEL_* variable the project
itself acts on (the SDK's own components, such as the resource detector and the
OTLP exporters, still read theirs, as the SDK defines): which exporters, the OTLP
protocols, the Prometheus listener, the exemplar filter, the OTLP default histogram
aggregation, OTEL_SDK_DISABLED and
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (with the launcher's entry-point names).
`ConfigError` is the one error of bad configuration, the services' own
variables included. Keeping these choices here is also what makes the two start
paths, under `opentelemetry-instrument` and without, give the same telemetry:
the same stable HTTP semantic conventions, excluded URLs and runtime metrics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A configuration variable with a value the services cannot use; the message names it."""


METRICS_PATH = "/metrics"

SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
FLASK_EXCLUDED_URLS = "OTEL_PYTHON_FLASK_EXCLUDED_URLS"
EXCLUDED_URLS = "OTEL_PYTHON_EXCLUDED_URLS"
DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
GRPC_EXCLUDED_SERVICES = "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"
CONFIG_FILE = "OTEL_CONFIG_FILE"
# The launcher's wildcard: no instrumentor at all.
ALL_INSTRUMENTATIONS = "*"
SDK_DISABLED = "OTEL_SDK_DISABLED"
METRICS_EXPORTER = "OTEL_METRICS_EXPORTER"
TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
LOGS_EXPORTER = "OTEL_LOGS_EXPORTER"
PROMETHEUS_HOST = "OTEL_EXPORTER_PROMETHEUS_HOST"
PROMETHEUS_PORT = "OTEL_EXPORTER_PROMETHEUS_PORT"
EXEMPLAR_FILTER = "OTEL_METRICS_EXEMPLAR_FILTER"
HISTOGRAM_AGGREGATION = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"

METRICS_EXPORTERS = ("prometheus", "otlp", "console", "none")
TRACES_EXPORTERS = ("otlp", "console", "none")
LOGS_EXPORTERS = ("otlp", "console", "none")
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
EXEMPLAR_FILTERS = ("trace_based", "always_on", "always_off")
EXPLICIT_BUCKET_HISTOGRAM = "explicit_bucket_histogram"
EXPONENTIAL_BUCKET_HISTOGRAM = "base2_exponential_bucket_histogram"
HISTOGRAM_AGGREGATIONS = (EXPLICIT_BUCKET_HISTOGRAM, EXPONENTIAL_BUCKET_HISTOGRAM)
# The order-api's metrics listener unless OTEL_EXPORTER_PROMETHEUS_HOST/PORT say otherwise
# (the specification's localhost:9464 would be unreachable from outside a container).
DEFAULT_PROMETHEUS_HOST = "0.0.0.0"
DEFAULT_PROMETHEUS_PORT = 8000

# The upstream instrumentations the services add themselves, in both start paths, by
# their launcher entry-point names. The gRPC ones emit spans only, so they are added
# only when spans go somewhere.
FLASK = "flask"
GRPC_CLIENT = "grpc_client"
GRPC_SERVER = "grpc_server"
SYSTEM_METRICS = "system_metrics"
SERVICE_INSTRUMENTATIONS = frozenset((FLASK, GRPC_CLIENT, GRPC_SERVER, SYSTEM_METRICS))
SPAN_ONLY_INSTRUMENTATIONS = frozenset((GRPC_CLIENT, GRPC_SERVER))

# Process-level runtime metrics of opentelemetry-instrumentation-system-metrics;
# the host-wide `system.*` metrics of its default configuration are left out.
RUNTIME_METRICS: dict[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.open_file_descriptor.count": None,
    "process.thread.count": None,
    "cpython.gc.collections": None,
}


@dataclass(frozen=True)
class TelemetrySettings:
    """What the OTEL_* variables ask of the project, parsed once (see the module docstring).

    Exporter lists are empty for `none`; each signal's OTLP protocol is read only
    when that signal has an `otlp` exporter; `exemplar_filter` is None when unset
    (then trace-based with tracing, else off). With OTEL_SDK_DISABLED=true nothing
    else is read: the settings say only that telemetry is off. `config_file` is
    OTEL_CONFIG_FILE's file, which then decides instead of the SDK's variables.
    """

    sdk_disabled: bool = False
    metrics_exporters: tuple[str, ...] = ("prometheus",)
    traces_exporters: tuple[str, ...] = ()
    logs_exporters: tuple[str, ...] = ()
    metrics_protocol: str = "grpc"
    traces_protocol: str = "grpc"
    logs_protocol: str = "grpc"
    prometheus_address: tuple[str, int] = (DEFAULT_PROMETHEUS_HOST, DEFAULT_PROMETHEUS_PORT)
    exemplar_filter: str | None = None
    # The OTLP exporter's default histogram aggregation (see otel.histogram_aggregation).
    histogram_aggregation: str = EXPLICIT_BUCKET_HISTOGRAM
    disabled_instrumentations: frozenset[str] = frozenset()
    flask_excluded_urls: str = field(default_factory=lambda: flask_excluded_urls({}))
    grpc_excluded_services: frozenset[str] = frozenset()
    config_file: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TelemetrySettings:
        """Parse the OTEL_* variables in `environ`; raise ConfigError naming the first bad one.

        With OTEL_CONFIG_FILE set, the file replaces the SDK's variables (`otel.config_file`
        reads it): only the launcher's and the instrumentations' are read here.
        """
        path = config_file(environ)
        if path is not None:
            return cls(
                metrics_exporters=(),
                disabled_instrumentations=disabled_instrumentations(environ),
                flask_excluded_urls=flask_excluded_urls(environ),
                grpc_excluded_services=grpc_excluded_services(environ),
                config_file=path,
            )
        if sdk_disabled(environ):
            return cls(sdk_disabled=True, metrics_exporters=())
        metrics = metrics_exporter_names(environ)
        traces = traces_exporter_names(environ)
        address = prometheus_address(environ)
        logs = logs_exporter_names(environ)
        exemplars = exemplar_filter_name(environ)
        aggregation = histogram_aggregation_name(environ)
        return cls(
            metrics_exporters=tuple(metrics),
            traces_exporters=tuple(traces),
            logs_exporters=tuple(logs),
            metrics_protocol=_protocol(environ, "metrics", metrics),
            traces_protocol=_protocol(environ, "traces", traces),
            logs_protocol=_protocol(environ, "logs", logs),
            prometheus_address=address,
            exemplar_filter=exemplars,
            histogram_aggregation=aggregation,
            disabled_instrumentations=disabled_instrumentations(environ),
            flask_excluded_urls=flask_excluded_urls(environ),
            grpc_excluded_services=grpc_excluded_services(environ),
        )


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """Whether OTEL_SDK_DISABLED turns all telemetry off."""
    return environ.get(SDK_DISABLED, "").strip().lower() == "true"


def config_file(environ: Mapping[str, str]) -> str | None:
    """The configuration file OTEL_CONFIG_FILE names (None when unset or empty)."""
    return environ.get(CONFIG_FILE, "").strip() or None


def exporter_names(
    environ: Mapping[str, str], variable: str, valid: tuple[str, ...], default: str
) -> list[str]:
    """Parse a comma-separated exporter list; `none` alone means no exporter."""
    raw = environ.get(variable, "").strip() or default
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in valid:
            raise ConfigError(
                f"{variable}={raw!r}: unknown exporter {name!r} (valid: {', '.join(valid)})"
            )
    if "none" in names and len(names) > 1:
        raise ConfigError(f"{variable}={raw!r}: 'none' cannot be combined with others")
    return [] if names == ["none"] else list(dict.fromkeys(names))


def metrics_exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The metric exporters OTEL_METRICS_EXPORTER selects (`prometheus` unless set; [] for none).

    Traces and logs default to `none` instead of the specification's `otlp`, so a
    service without a collector does not log export errors.
    """
    return exporter_names(environ, METRICS_EXPORTER, METRICS_EXPORTERS, "prometheus")


def traces_exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters OTEL_TRACES_EXPORTER selects (none unless set)."""
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
                raise ConfigError(f"{variable}={value!r}: unsupported (valid: {valid})")
            return value
    return "grpc"


def _protocol(environ: Mapping[str, str], signal: str, exporters: list[str]) -> str:
    """The signal's OTLP protocol, read only when the signal has an `otlp` exporter."""
    return otlp_protocol(environ, signal) if "otlp" in exporters else "grpc"


def prometheus_address(environ: Mapping[str, str]) -> tuple[str, int]:
    """The metrics listener's host and port from OTEL_EXPORTER_PROMETHEUS_HOST/PORT."""
    host = environ.get(PROMETHEUS_HOST, "").strip() or DEFAULT_PROMETHEUS_HOST
    raw_port = environ.get(PROMETHEUS_PORT, "").strip()
    if not raw_port:
        return host, DEFAULT_PROMETHEUS_PORT
    if not raw_port.isdigit() or int(raw_port) > 65535:
        raise ConfigError(f"{PROMETHEUS_PORT}={raw_port!r}: expected a port")
    return host, int(raw_port)


def exemplar_filter_name(environ: Mapping[str, str]) -> str | None:
    """The filter OTEL_METRICS_EXEMPLAR_FILTER names (lower case), None when unset."""
    raw = environ.get(EXEMPLAR_FILTER, "").strip().lower()
    if not raw:
        return None
    if raw not in EXEMPLAR_FILTERS:
        valid = ", ".join(EXEMPLAR_FILTERS)
        raise ConfigError(f"{EXEMPLAR_FILTER}={raw!r}: unknown filter (valid: {valid})")
    return raw


def instrumentation_names(value: str) -> frozenset[str]:
    """The names in an OTEL_PYTHON_DISABLED_INSTRUMENTATIONS value, as the launcher reads them."""
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def disabled_instrumentations(environ: Mapping[str, str]) -> frozenset[str]:
    """The names in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS."""
    return instrumentation_names(environ.get(DISABLED_INSTRUMENTATIONS, ""))


def grpc_excluded_services(environ: Mapping[str, str]) -> frozenset[str]:
    """The full gRPC service names OTEL_PYTHON_GRPC_EXCLUDED_SERVICES keeps out of tracing.

    Read as upstream's gRPC instrumentors read it (comma-separated, spaces trimmed).
    """
    return instrumentation_names(environ.get(GRPC_EXCLUDED_SERVICES, ""))


def is_disabled(instrumentation: str, disabled: frozenset[str]) -> bool:
    """Whether `instrumentation` is switched off by the names in `disabled` (`*`: all)."""
    return instrumentation in disabled or ALL_INSTRUMENTATIONS in disabled


def ensure_stable_http_semconv(environ: MutableMapping[str, str]) -> None:
    """Opt in to stable HTTP semantic conventions (seconds, bounded attributes).

    The instrumentation reads the variable once, when it first instruments, so
    this must run before that. A user's own opt-ins (`http/dup`, `database`) stay.
    """
    opted = [part.strip() for part in environ.get(SEMCONV_OPT_IN, "").split(",") if part.strip()]
    if not any(part in ("http", "http/dup") for part in opted):
        environ[SEMCONV_OPT_IN] = ",".join([*opted, "http"])


def flask_excluded_urls(environ: Mapping[str, str]) -> str:
    """The Flask instrumentation's excluded-URL patterns: the user's plus `/metrics`."""
    user = environ.get(FLASK_EXCLUDED_URLS) or environ.get(EXCLUDED_URLS) or ""
    ours = "^https?://[^/]+" + re.escape(METRICS_PATH) + r"(\?.*)?$"
    return ",".join(part for part in (user, ours) if part)


def already_instrumented(instrumentor_class: type) -> bool:
    """Whether the launcher already ran this instrumentor in this process.

    Reads the singleton without instantiating it: some instrumentors reset
    their settings in `__init__`.
    """
    instance = getattr(instrumentor_class, "_instance", None)
    return bool(instance is not None and instance.is_instrumented_by_opentelemetry)


def histogram_aggregation_name(environ: Mapping[str, str]) -> str:
    """OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION (explicit buckets unless set).

    Upstream's exporter only warns about an unknown value; the services refuse it.
    """
    raw = environ.get(HISTOGRAM_AGGREGATION, "").strip()
    if not raw:
        return EXPLICIT_BUCKET_HISTOGRAM
    if raw.lower() not in HISTOGRAM_AGGREGATIONS:
        valid = ", ".join(HISTOGRAM_AGGREGATIONS)
        raise ConfigError(f"{HISTOGRAM_AGGREGATION}={raw!r}: unknown aggregation (valid: {valid})")
    return raw.lower()
