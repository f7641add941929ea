"""The metric contract of both services, checked against their live /metrics endpoints.

Each service's contract lists the series it must publish: name, Prometheus
type, label names (exactly, or at least, for the semantic-convention metrics
whose optional attributes vary), histogram bucket bounds, label values that
must be there from the start, and the service name on `target_info`.
Items published by an upstream instrumentation name it (`source`, the
launcher's name), so a deployment that switches it off with
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS is checked `without` them.
`check_exposition` turns one scrape into one `Check` per contract item.
Labels added by the exporter (`otel_scope_*`) are ignored.
"""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from prometheus_client.samples import Sample

from otel.settings import FLASK, SYSTEM_METRICS, is_disabled
from otel_stack.harness.scrape import Exposition, ScrapeError, own_labels, scrape

BUCKETS = ("0.001", "0.01", "0.1", "0.5", "1.0", "2.0", "5.0", "+Inf")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")
PROBE_PATH = "/orders/verify-probe"


@dataclass(frozen=True)
class MetricContract:
    """What one metric must look like; `labels` None skips the label check.

    `source` is the upstream instrumentation publishing it (None: the project's own).
    """

    name: str
    type: str
    labels: frozenset[str] | None = None
    exact_labels: bool = True
    buckets: tuple[str, ...] | None = None
    required_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True)
class ServiceContract:
    """Every metric one service publishes."""

    service: str
    metrics: tuple[MetricContract, ...]

    def without(self, disabled: frozenset[str]) -> ServiceContract:
        """The contract of a deployment with these instrumentations disabled (`*`: all)."""
        kept = (m for m in self.metrics if m.source is None or not is_disabled(m.source, disabled))
        return replace(self, metrics=tuple(kept))


@dataclass(frozen=True)
class Check:
    """The outcome of one contract item."""

    ok: bool
    service: str
    item: str
    detail: str = ""


def _runtime() -> tuple[MetricContract, ...]:
    return (
        MetricContract("process_cpu_time_seconds_total", "counter", source=SYSTEM_METRICS),
        MetricContract("process_memory_usage_bytes", "gauge", source=SYSTEM_METRICS),
        MetricContract("cpython_gc_collections_total", "counter", source=SYSTEM_METRICS),
        MetricContract("process_threads", "gauge", source=SYSTEM_METRICS),
        MetricContract("process_open_file_descriptors", "gauge", source=SYSTEM_METRICS),
    )


def _target_info(service: str) -> MetricContract:
    return MetricContract("target_info", "gauge", required_values={"service_name": (service,)})


HTTP_LABELS = frozenset({"method", "route", "status_code"})

GATEWAY = ServiceContract(
    "web-gateway",
    (
        MetricContract("http_requests_total", "counter", HTTP_LABELS),
        MetricContract("http_request_duration_seconds", "histogram", HTTP_LABELS, buckets=BUCKETS),
        MetricContract(
            "http_server_request_duration_seconds",
            "histogram",
            frozenset({"http_request_method", "http_route", "http_response_status_code"}),
            exact_labels=False,
            source=FLASK,
        ),
        MetricContract(
            "rpc_client_call_duration_seconds",
            "histogram",
            frozenset({"rpc_system_name", "rpc_method", "rpc_response_status_code"}),
            exact_labels=False,
        ),
        MetricContract(
            "http_server_open_connections",
            "gauge",
            frozenset({"http_connection_state"}),
            required_values={"http_connection_state": ("active", "idle")},
        ),
        MetricContract("http_server_refused_connections_total", "counter", frozenset()),
        *_runtime(),
        _target_info("web-gateway"),
    ),
)

ORDER_API = ServiceContract(
    "order-api",
    (
        MetricContract(
            "grpc_requests_total",
            "counter",
            frozenset({"method", "status"}),
            required_values={"method": ("CreateOrder", "GetOrder", "ListOrders")},
        ),
        MetricContract(
            "grpc_request_duration_seconds", "histogram", frozenset({"method"}), buckets=BUCKETS
        ),
        MetricContract("orders_created_total", "counter", frozenset()),
        MetricContract("rpc_server_call_duration_seconds", "histogram"),
        *_runtime(),
        _target_info("order-api"),
    ),
)


def check_endpoint(contract: ServiceContract, url: str) -> list[Check]:
    """Scrape `url` and check it against `contract` (one failed check if unreachable)."""
    try:
        exposition = scrape(url)
    except ScrapeError as error:
        return [Check(False, contract.service, f"{url} scraped", str(error))]
    return [
        Check(True, contract.service, f"{url} scraped"),
        *check_exposition(contract, exposition),
    ]


def check_exposition(contract: ServiceContract, exposition: Exposition) -> list[Check]:
    """One Check per contract item; a missing metric is one failed check, not several."""
    checks: list[Check] = []
    for metric in contract.metrics:
        checks += _check_metric(contract.service, metric, exposition)
    return checks


def probe_gateway(gateway_url: str, *, timeout: float = 5.0) -> str:
    """Send one GET of an unknown order so request and RPC metrics have series; describe it."""
    parsed = urllib.parse.urlsplit(gateway_url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=timeout)
    try:
        connection.request("GET", PROBE_PATH)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return f"GET {PROBE_PATH} failed: {error}"
    finally:
        connection.close()
    return f"GET {PROBE_PATH} -> {status}"


def _check_metric(service: str, metric: MetricContract, exposition: Exposition) -> list[Check]:
    family = exposition.family(metric.name)
    samples = [] if family is None else _series(family.samples, metric)
    if family is None or not samples:
        return [Check(False, service, f"{metric.name} present", "no series in the exposition")]
    checks = [Check(True, service, f"{metric.name} present")]
    type_ok = family.type == metric.type
    checks.append(
        Check(type_ok, service, f"{metric.name} is a {metric.type}", f"found {family.type}")
    )
    if metric.labels is not None:
        checks.append(_check_labels(service, metric, metric.labels, samples))
    if metric.buckets is not None:
        checks.append(_check_buckets(service, metric, metric.buckets, samples))
    for label, values in metric.required_values.items():
        checks.append(_check_values(service, metric, label, values, samples))
    return checks


def _series(samples: list[Sample], metric: MetricContract) -> list[Sample]:
    if metric.type == "histogram":
        names = {metric.name + suffix for suffix in HISTOGRAM_SERIES}
    else:
        names = {metric.name}
    return [sample for sample in samples if sample.name in names]


def _check_labels(
    service: str, metric: MetricContract, expected: frozenset[str], samples: list[Sample]
) -> Check:
    wanted = ", ".join(sorted(expected)) or "none"
    item = f"{metric.name} labels {'' if metric.exact_labels else 'include '}{wanted}"
    for sample in samples:
        names = set(own_labels(sample)) - {"le"}
        matches = names == expected if metric.exact_labels else expected <= names
        if not matches:
            found = ", ".join(sorted(names)) or "none"
            return Check(False, service, item, f"{sample.name} has {found}")
    return Check(True, service, item)


def _check_buckets(
    service: str, metric: MetricContract, expected: tuple[str, ...], samples: list[Sample]
) -> Check:
    item = f"{metric.name} buckets {', '.join(expected)}"
    by_series: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for sample in samples:
        if sample.name != metric.name + "_bucket":
            continue
        labels = own_labels(sample)
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        by_series.setdefault(key, []).append(labels["le"])
    if not by_series:
        return Check(False, service, item, "no _bucket series")
    for bounds in by_series.values():
        if tuple(bounds) != expected:
            return Check(False, service, item, f"found {', '.join(bounds)}")
    return Check(True, service, item)


def _check_values(
    service: str, metric: MetricContract, label: str, values: tuple[str, ...], samples: list[Sample]
) -> Check:
    wanted = ", ".join(f'{label}="{value}"' for value in values)
    item = f"{metric.name} has {wanted}"
    present = {own_labels(sample).get(label) for sample in samples}
    missing = [value for value in values if value not in present]
    found = ", ".join(sorted(value for value in present if value is not None)) or "none"
    return Check(not missing, service, item, f"{label} values found: {found}")
