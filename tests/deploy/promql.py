"""The metric contract of the two services, and small offline checks of PromQL text.

`CONTRACT` lists every metric name the services expose (histograms by their base
name). `metric_names` finds the metric names a query selects, without a PromQL
parser: string literals, label matchers, range selectors and grouping clauses
are removed first, and what remains that is not a function or keyword is a name.
Full syntax checks are left to `promtool check rules`.
"""

from __future__ import annotations

import re

GATEWAY_METRICS = frozenset(
    {
        "http_requests_total",
        "http_request_duration_seconds",
        "http_server_request_duration_seconds",
        "http_server_active_requests",
        "http_server_open_connections",
        "http_server_refused_connections_total",
        "rpc_client_call_duration_seconds",
    }
)
ORDER_API_METRICS = frozenset(
    {
        "grpc_requests_total",
        "grpc_request_duration_seconds",
        "orders_created_total",
        "rpc_server_call_duration_seconds",
    }
)
RUNTIME_METRICS = frozenset(
    {
        "process_cpu_time_seconds_total",
        "process_memory_usage_bytes",
        "process_memory_virtual_bytes",
        "cpython_gc_collections_total",
        "process_threads",
        "process_open_file_descriptors",
        "target_info",
    }
)
HISTOGRAMS = frozenset(
    {
        "http_request_duration_seconds",
        "http_server_request_duration_seconds",
        "rpc_client_call_duration_seconds",
        "grpc_request_duration_seconds",
        "rpc_server_call_duration_seconds",
    }
)
# The semantic-convention durations, pushed over OTLP as exponential histograms, are native
# histograms in Prometheus: one series by the base name, no _bucket/_count/_sum.
NATIVE_HISTOGRAMS = frozenset(
    {
        "http_server_request_duration_seconds",
        "rpc_client_call_duration_seconds",
        "rpc_server_call_duration_seconds",
    }
)
CONTRACT = GATEWAY_METRICS | ORDER_API_METRICS | RUNTIME_METRICS
# Every series name the contract allows: histograms expose _bucket, _count and _sum.
SERIES_NAMES = (CONTRACT - HISTOGRAMS) | frozenset(
    f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")
)

# The collector's own counters the dashboards and alerts read (job otel-collector-internal),
# named as the release of otelcol/builder-config.yaml exposes them on :8888: a test reads
# them from the built binary.
COLLECTOR_SERIES = frozenset(
    {
        "otelcol_process_uptime",
        *(
            f"otelcol_receiver_{outcome}_{items}"
            for outcome in ("accepted", "refused", "failed")
            for items in ("metric_points", "spans")
        ),
        *(
            f"otelcol_exporter_{outcome}_{items}"
            for outcome in ("sent", "send_failed")
            for items in ("metric_points", "spans")
        ),
    }
)
# Created at an exporter's first failed send: a healthy collector has none.
FAILURE_ONLY_SERIES = frozenset(
    {"otelcol_exporter_send_failed_metric_points", "otelcol_exporter_send_failed_spans"}
)
# Published by the supervisor of a service run as several worker processes (pull only).
SUPERVISOR_SERIES = frozenset({"service_worker_restarts_total"})

# Prometheus' own metrics about its OTLP receiver (job prometheus).
PROMETHEUS_SERIES = frozenset(
    {"prometheus_http_requests_total", "prometheus_api_otlp_translation_warnings_total"}
)
KNOWN_SERIES = (
    SERIES_NAMES | NATIVE_HISTOGRAMS | COLLECTOR_SERIES | PROMETHEUS_SERIES | SUPERVISOR_SERIES
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# An identifier not glued to a number (1e3) and not followed by "(" (a function call).
_NAME = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan", "Inf", "NaN"})
_PAIRS = {")": "(", "]": "[", "}": "{"}


def metric_names(query: str) -> list[str]:
    """The metric names `query` selects, in order of appearance."""
    text = _STRING.sub('""', query)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return [name for name in _NAME.findall(text) if name not in _KEYWORDS]


def selectors(query: str) -> list[tuple[str, str]]:
    """(metric name, label matcher text) of every `name{...}` selector in `query`."""
    return re.findall(r"([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}", query)


def range_windows(query: str) -> list[str]:
    """The text inside every `[...]` range selector of `query`."""
    return re.findall(r"\[([^\[\]]*)\]", _STRING.sub('""', query))


def brackets_balanced(query: str) -> bool:
    """Whether (), [] and {} nest properly outside string literals."""
    stack: list[str] = []
    for char in _STRING.sub('""', query):
        if char in "([{":
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            return False
    return not stack
