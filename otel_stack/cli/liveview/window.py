"""The live view's arithmetic: what happened between two readings, per route, method and instance.

`compare` turns two readings into per-route (gateway) and per-method
(order-api) request rates and error ratios from counter increases, the way
PromQL's `rate` would, and, when the services trace, the trace id of each row's
slowest request of the interval (from the exemplars on the latency buckets,
scraped in OpenMetrics).

Latencies say where they come from. The contract's duration histograms have
decade-wide buckets (1 ms, 10 ms, 100 ms, ...), so interpolating inside one, as
`histogram_quantile` does, shows numbers nobody measured: a quantile from a
histogram is kept as the bucket it lies in. Where the traffic generator timed
the requests itself (`otel-stack up` passes its timings in the reading), a
gateway route's quantiles are those client-side measurements. Where the reading
holds native histograms (services pushing exponential histograms to Prometheus:
`prometheus_reading`), a row's quantiles come from them instead, as numbers:
their buckets are about 9% wide, not a decade.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar

from otel_stack.cli.liveview.reading import INSTANCE_LABEL, Reading
from otel_stack.harness import native_histograms
from otel_stack.harness.histograms import (
    Bucket,
    bucket_increase,
    increase,
    quantile,
    quantile_bucket,
)
from otel_stack.harness.scrape import Exposition, LabelKey

# gRPC codes that mean the server failed, as in the OpenTelemetry RPC conventions.
SERVER_FAULT_CODES = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)
QUANTILES = (0.5, 0.95, 0.99)
# Readiness and liveness probes (including `up`'s own) are not traffic; the recording
# rules leave them out of the gateway's RED signals too.
PROBE_ROUTES = frozenset({"/healthz", "/readyz"})

# A latency quantile: seconds measured by a client, or the (lower, upper] bounds of the
# server histogram's bucket that holds it.
Latency = float | tuple[float, float]


@dataclass(frozen=True)
class RowStats:
    """Traffic of one gateway route or order-api method over an interval."""

    name: str
    requests: float
    rate: float
    error_ratio: float | None
    quantiles: tuple[Latency | None, ...]
    slowest_trace: str | None = None
    # The quantiles come from the service's native histogram (else: client timings or buckets).
    native: bool = False


@dataclass(frozen=True)
class Window:
    """Everything the live view shows for one interval."""

    seconds: float
    routes: list[RowStats]
    rpcs: list[RowStats]
    orders_created: float
    orders_total: float
    errors: tuple[str, ...] = field(default_factory=tuple)
    # One row per instance when a service runs as several (`up --replicas`).
    instances: list[RowStats] = field(default_factory=list)


@dataclass(frozen=True)
class _Signals:
    """Where a service's request rate, errors and latency are in its exposition."""

    service: str
    counter: str
    histogram: str
    status_label: str
    is_error: Callable[[str], bool]


_GATEWAY = _Signals(
    "web-gateway",
    "http_requests_total",
    "http_request_duration_seconds",
    "status_code",
    lambda code: code.startswith("5"),
)
_ORDER_API = _Signals(
    "order-api",
    "grpc_requests_total",
    "grpc_request_duration_seconds",
    "status",
    lambda code: code in SERVER_FAULT_CODES,
)


def compare(before: Reading, after: Reading) -> Window:
    """Rates, error ratios and quantiles of what happened between two readings."""
    seconds = max(after.at - before.at, 1e-9)
    since = after.wall_time - seconds  # exemplars older than the interval are not news
    routes: list[RowStats] = []
    rpcs: list[RowStats] = []
    if after.gateway is not None:
        by_route = ("method", "route")
        routes = [
            _from_native(
                _measured_by_client(row, before.client, after.client),
                before.native_routes,
                after.native_routes,
            )
            for row in _rows(
                before.gateway, after.gateway, seconds, _GATEWAY, by=by_route, exemplars_since=since
            )
            if row.name.partition(" ")[2] not in PROBE_ROUTES
        ]
    orders_created = orders_total = 0.0
    if after.order_api is not None:
        rpcs = [
            _from_native(row, before.native_rpcs, after.native_rpcs)
            for row in _rows(
                before.order_api,
                after.order_api,
                seconds,
                _ORDER_API,
                by=("method",),
                exemplars_since=since,
            )
        ]
        orders_total = after.order_api.total("orders_created_total")
        previous = before.order_api.total("orders_created_total") if before.order_api else 0.0
        orders_created = increase(previous, orders_total)
    instances = _instance_rows(before, after, seconds, since)
    return Window(seconds, routes, rpcs, orders_created, orders_total, after.errors, instances)


def _measured_by_client(
    row: RowStats, before: Mapping[str, Sequence[Bucket]], after: Mapping[str, Sequence[Bucket]]
) -> RowStats:
    """The row with the client's own timings of the interval, where the client sent it."""
    if row.name not in after:
        return row
    grown = bucket_increase(dict(before.get(row.name, ())), dict(after[row.name]))
    return replace(row, quantiles=tuple(quantile(q, grown) for q in QUANTILES))


def _from_native(
    row: RowStats,
    before: Mapping[LabelKey, Mapping[float, float]],
    after: Mapping[LabelKey, Mapping[float, float]],
) -> RowStats:
    """The row with its quantiles from the native histogram of the interval, where there is one."""
    key = tuple(row.name.split(" "))
    if key not in after:
        return row
    grown = native_histograms.increase(before.get(key, {}), after[key])
    quantiles = tuple(quantile(q, grown) for q in QUANTILES)
    if all(value is None for value in quantiles):
        return row
    return replace(row, quantiles=quantiles, native=True)


def _rows(
    before: Exposition | None,
    after: Exposition,
    seconds: float,
    signals: _Signals,
    *,
    by: tuple[str, ...],
    exemplars_since: float,
) -> list[RowStats]:
    labels = (*by, signals.status_label)
    now = after.counter(signals.counter, labels)
    then = before.counter(signals.counter, labels) if before is not None else {}
    requests: dict[LabelKey, float] = defaultdict(float)
    errors: dict[LabelKey, float] = defaultdict(float)
    for key, value in now.items():
        grown = increase(then.get(key, 0.0), value)
        requests[key[:-1]] += grown
        if signals.is_error(key[-1]):
            errors[key[:-1]] += grown
    buckets_now = after.buckets(signals.histogram, by)
    buckets_then = before.buckets(signals.histogram, by) if before is not None else {}
    exemplars = after.exemplars(signals.histogram, by)
    rows = []
    for key in sorted(requests):
        grown_buckets = bucket_increase(buckets_then.get(key, {}), buckets_now.get(key, {}))
        total = requests[key]
        rows.append(
            RowStats(
                name=" ".join(key),
                requests=total,
                rate=total / seconds,
                error_ratio=errors[key] / total if total else None,
                quantiles=tuple(quantile_bucket(q, grown_buckets) for q in QUANTILES),
                slowest_trace=_slowest_trace(exemplars.get(key, []), exemplars_since),
            )
        )
    return rows


def _instance_rows(
    before: Reading, after: Reading, seconds: float, exemplars_since: float
) -> list[RowStats]:
    """A row per instance of each service (probe routes left out); none for single instances."""
    rows: list[RowStats] = []
    services = (
        (_GATEWAY, before.gateway, after.gateway),
        (_ORDER_API, before.order_api, after.order_api),
    )
    for signals, then, now in services:
        if now is None or not now.counter(signals.counter, (INSTANCE_LABEL,)).keys() - {("",)}:
            continue
        previous, traffic = then, now
        if signals is _GATEWAY:
            traffic = _without_probes(now)
            previous = _without_probes(then) if then is not None else None
        for row in _rows(
            previous,
            traffic,
            seconds,
            signals,
            by=(INSTANCE_LABEL,),
            exemplars_since=exemplars_since,
        ):
            rows.append(replace(row, name=f"{signals.service} {row.name}"))
    return rows


def _without_probes(exposition: Exposition) -> Exposition:
    """The exposition without samples of probe routes (they are not traffic)."""
    families = []
    for family in exposition.families:
        kept = Metric(family.name, family.documentation, family.type, family.unit)
        kept.samples = [s for s in family.samples if s.labels.get("route") not in PROBE_ROUTES]
        families.append(kept)
    return Exposition(tuple(families))


def _slowest_trace(exemplars: Sequence[Exemplar], since: float) -> str | None:
    """The trace id of the slowest exemplar stamped after `since` (None if there is none)."""
    # The OpenMetrics parser gives stamps as Timestamp (seconds and nanoseconds; float() works).
    recent = [e for e in exemplars if "trace_id" in e.labels and float(e.timestamp or 0) >= since]
    if not recent:
        return None
    return max(recent, key=lambda exemplar: exemplar.value).labels["trace_id"]
