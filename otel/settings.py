"""Choices shared by both ways of starting a service: under `opentelemetry-instrument` and without.

Keeping them here is what makes the two paths give the same telemetry: the same
stable HTTP semantic conventions, the same excluded URLs, the same runtime
metrics, the same answer to "is the SDK disabled?" and to "which upstream
instrumentations has the user switched off?" (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
with the launcher's entry-point names).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping

METRICS_PATH = "/metrics"

SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
FLASK_EXCLUDED_URLS = "OTEL_PYTHON_FLASK_EXCLUDED_URLS"
EXCLUDED_URLS = "OTEL_PYTHON_EXCLUDED_URLS"
DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
CONFIG_FILE = "OTEL_CONFIG_FILE"
# The launcher's wildcard: no instrumentor at all.
ALL_INSTRUMENTATIONS = "*"

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


def sdk_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether OTEL_SDK_DISABLED turns all telemetry off."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def config_file(environ: Mapping[str, str] = os.environ) -> str | None:
    """The configuration file OTEL_CONFIG_FILE names (None when unset or empty)."""
    return environ.get(CONFIG_FILE, "").strip() or None


def disabled_instrumentations(environ: Mapping[str, str] = os.environ) -> frozenset[str]:
    """The names in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, read as the launcher reads them."""
    value = environ.get(DISABLED_INSTRUMENTATIONS, "")
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def is_disabled(instrumentation: str, disabled: frozenset[str]) -> bool:
    """Whether `instrumentation` is switched off by the names in `disabled` (`*`: all)."""
    return instrumentation in disabled or ALL_INSTRUMENTATIONS in disabled


def ensure_stable_http_semconv(environ: MutableMapping[str, str] = os.environ) -> None:
    """Opt in to stable HTTP semantic conventions (seconds, bounded attributes).

    The instrumentation reads the variable once, when it first instruments, so
    this must run before that. A user's own opt-ins (`http/dup`, `database`) stay.
    """
    opted = [part.strip() for part in environ.get(SEMCONV_OPT_IN, "").split(",") if part.strip()]
    if not any(part in ("http", "http/dup") for part in opted):
        environ[SEMCONV_OPT_IN] = ",".join([*opted, "http"])


def flask_excluded_urls(environ: Mapping[str, str] = os.environ) -> str:
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
