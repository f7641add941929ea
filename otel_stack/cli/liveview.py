"""The live view of `otel-stack up`: what the two /metrics endpoints say about an interval.

`read` scrapes both services at one moment; `compare` turns two readings into
per-route (gateway) and per-method (order-api) request rates and error ratios
from counter increases, the way PromQL's `rate` would, and, when the services
trace, the trace id of each row's slowest request of the interval (from the
exemplars on the latency buckets, scraped in OpenMetrics); `render` lays that
out as plain text lines (the console decides how they reach the terminal).

Latencies say where they come from. The contract's duration histograms have
decade-wide buckets (1 ms, 10 ms, 100 ms, ...), so interpolating inside one, as
`histogram_quantile` does, shows numbers nobody measured: a quantile from a
histogram is shown as the bucket it lies in (`1-10ms`). Where the traffic
generator timed the requests itself (`otel-stack up` passes its timings in the
reading), a gateway route's quantiles are those client-side measurements.
Where the reading holds native histograms (services pushing exponential
histograms to Prometheus: `prometheus_reading`), a row's quantiles come from
them instead, as numbers: their buckets are about 9% wide, not a decade.
"""

from __future__ import annotations

import dataclasses
import math
import ssl
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar

from otel_stack.harness import native_histograms
from otel_stack.harness.histograms import (
    Bucket,
    bucket_increase,
    increase,
    quantile,
    quantile_bucket,
)
from otel_stack.harness.scrape import Exposition, LabelKey, ScrapeError, scrape

# gRPC codes that mean the server failed, as in the OpenTelemetry RPC conventions.
SERVER_FAULT_CODES = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)
QUANTILES = (0.5, 0.95, 0.99)
LATENCY_WIDTH = 11

# A latency quantile: seconds measured by a client, or the (lower, upper] bounds of the
# server histogram's bucket that holds it.
Latency = float | tuple[float, float]


@dataclass(frozen=True)
class Reading:
    """Both expositions at one moment (None where the scrape failed, with the reason).

    `client` holds the latencies the traffic generator measured so far, as
    cumulative buckets per `METHOD /route` (empty without a traffic generator).
    `native_routes` (by method and route) and `native_rpcs` (by method) hold the
    cumulative buckets of the services' native duration histograms, where
    Prometheus has them (empty otherwise).
    """

    at: float
    gateway: Exposition | None
    order_api: Exposition | None
    errors: tuple[str, ...] = ()
    client: Mapping[str, Sequence[Bucket]] = field(default_factory=dict)
    wall_time: float = 0.0  # time.time() of the reading: exemplars carry wall-clock stamps
    native_routes: Mapping[LabelKey, Mapping[float, float]] = field(default_factory=dict)
    native_rpcs: Mapping[LabelKey, Mapping[float, float]] = field(default_factory=dict)


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


def read(
    gateway_metrics_urls: Sequence[str] | str,
    order_api_metrics_urls: Sequence[str] | str,
    client: Callable[[], Mapping[str, Sequence[Bucket]]] | None = None,
    *,
    openmetrics: bool = True,
    context: ssl.SSLContext | None = None,
) -> Reading:
    """Scrape every instance of both services now; a failed scrape is recorded, not raised.

    `client` gives the traffic generator's latencies so far (see `Reading.client`).
    Scrapes ask for OpenMetrics (with exemplars) unless told otherwise; `context`
    is the TLS context for https URLs.


    With several instances of a service, their expositions are merged, each
    sample labelled `instance` (host:port), so the view shows sums over
    instances (the same aggregation as the recording rules) and a row per instance.
    """
    errors: list[str] = []
    merged: list[Exposition | None] = []
    for urls in (gateway_metrics_urls, order_api_metrics_urls):
        scraped: list[Exposition] = []
        url_list = [urls] if isinstance(urls, str) else list(urls)
        for url in url_list:
            try:
                exposition = scrape(url, timeout=2.0, openmetrics=openmetrics, context=context)
            except ScrapeError as error:
                errors.append(str(error))
                continue
            if len(url_list) > 1:
                exposition = exposition.with_label(INSTANCE_LABEL, _instance(url))
            scraped.append(exposition)
        merged.append(Exposition.merge(scraped) if scraped else None)
    measured = client() if client is not None else {}
    return Reading(
        time.monotonic(), merged[0], merged[1], tuple(errors), measured, wall_time=time.time()
    )


INSTANCE_LABEL = "instance"


def _instance(url: str) -> str:
    """host:port of a /metrics URL, as Prometheus' `instance` label."""
    return url.split("//", 1)[-1].split("/", 1)[0]


# Readiness and liveness probes (including `up`'s own) are not traffic; the recording
# rules leave them out of the gateway's RED signals too.
PROBE_ROUTES = frozenset({"/healthz", "/readyz"})


def compare(before: Reading, after: Reading) -> Window:
    """Rates, error ratios and quantiles of what happened between two readings."""
    seconds = max(after.at - before.at, 1e-9)
    since = after.wall_time - seconds  # exemplars older than the interval are not news
    routes: list[RowStats] = []
    rpcs: list[RowStats] = []
    if after.gateway is not None:
        routes = _rows(
            before.gateway,
            after.gateway,
            seconds,
            counter="http_requests_total",
            histogram="http_request_duration_seconds",
            by=("method", "route"),
            status_label="status_code",
            is_error=lambda code: code.startswith("5"),
            exemplars_since=since,
        )
        routes = [
            _from_native(
                _measured_by_client(row, before.client, after.client),
                before.native_routes,
                after.native_routes,
            )
            for row in routes
            if row.name.partition(" ")[2] not in PROBE_ROUTES
        ]
    orders_created = orders_total = 0.0
    if after.order_api is not None:
        rpcs = _rows(
            before.order_api,
            after.order_api,
            seconds,
            counter="grpc_requests_total",
            histogram="grpc_request_duration_seconds",
            by=("method",),
            status_label="status",
            is_error=lambda code: code in SERVER_FAULT_CODES,
            exemplars_since=since,
        )
        rpcs = [_from_native(row, before.native_rpcs, after.native_rpcs) for row in rpcs]
        orders_total = after.order_api.total("orders_created_total")
        previous = before.order_api.total("orders_created_total") if before.order_api else 0.0
        orders_created = increase(previous, orders_total)
    instances = _instance_rows(before, after, seconds, since)
    return Window(seconds, routes, rpcs, orders_created, orders_total, after.errors, instances)


def render(window: Window, *, title: str, urls: Mapping[str, str]) -> list[str]:
    """The view as plain-text lines (ASCII only, no control codes)."""
    lines = [title, ""]
    lines += _table("GATEWAY ROUTE", window.routes)
    lines.append("")
    lines += _table("ORDER-API RPC", window.rpcs)
    lines.append("")
    if window.instances:
        lines += _table("INSTANCE", window.instances)
        lines.append("")
    rate = window.orders_created / window.seconds
    lines.append(
        f"orders created: {window.orders_total:.0f} total, "
        f"+{window.orders_created:.0f} in {window.seconds:.1f}s ({rate:.1f}/s)"
    )
    lines += _latency_notes(window)
    lines += [f"{name}: {url}" for name, url in urls.items()]
    lines += [f"! {error}" for error in window.errors]
    return lines


def format_latency(value: Latency | None) -> str:
    """A measured latency (`3.3ms`), or the histogram bucket holding it (`1-10ms`, `>5s`)."""
    if value is None or isinstance(value, float):
        return format_seconds(value)
    lower, upper = value
    if math.isinf(upper):
        return ">" + "".join(_bound(lower))
    if lower <= 0:
        return "<=" + "".join(_bound(upper))
    (low, low_unit), (high, high_unit) = _bound(lower), _bound(upper)
    return f"{low}{'' if low_unit == high_unit else low_unit}-{high}{high_unit}"


def format_seconds(value: float | None) -> str:
    """A latency for humans: 850us, 12.3ms, 1.25s; '-' when unknown."""
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f}us"
    if value < 1:
        return f"{value * 1e3:.1f}ms"
    return f"{value:.2f}s"


def _bound(seconds: float) -> tuple[str, str]:
    """A bucket bound as (number, unit): (`2.5`, `ms`)."""
    if seconds < 0.001:
        return f"{seconds * 1e6:g}", "us"
    if seconds < 1:
        return f"{seconds * 1e3:g}", "ms"
    return f"{seconds:g}", "s"


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


def _latency_notes(window: Window) -> list[str]:
    rows = [*window.routes, *window.rpcs]
    measured = any(
        isinstance(value, float) for row in rows if not row.native for value in row.quantiles
    )
    buckets = any(isinstance(value, tuple) for row in rows for value in row.quantiles)
    notes = []
    for service, table in (("gateway", window.routes), ("order-api", window.rpcs)):
        if any(row.native for row in table):
            notes.append(
                f"{service} latency like 7.3ms: the service's native histogram "
                "(server side, buckets ~9% wide)"
            )
    if measured:
        notes.append("latency like 3.3ms: timed by the traffic generator (client side)")
    if buckets:
        notes.append(
            "latency like 1-10ms: the service's histogram bucket holding it (no finer data)"
        )
    return notes


def _rows(
    before: Exposition | None,
    after: Exposition,
    seconds: float,
    *,
    counter: str,
    histogram: str,
    by: tuple[str, ...],
    status_label: str,
    is_error: Callable[[str], bool],
    exemplars_since: float,
) -> list[RowStats]:
    labels = (*by, status_label)
    now = after.counter(counter, labels)
    then = before.counter(counter, labels) if before is not None else {}
    requests: dict[LabelKey, float] = defaultdict(float)
    errors: dict[LabelKey, float] = defaultdict(float)
    for key, value in now.items():
        grown = increase(then.get(key, 0.0), value)
        requests[key[:-1]] += grown
        if is_error(key[-1]):
            errors[key[:-1]] += grown
    buckets_now = after.buckets(histogram, by)
    buckets_then = before.buckets(histogram, by) if before is not None else {}
    exemplars = after.exemplars(histogram, by)
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
        ("web-gateway", before.gateway, after.gateway, "http_requests_total",
         "http_request_duration_seconds", "status_code", lambda code: code.startswith("5")),
        ("order-api", before.order_api, after.order_api, "grpc_requests_total",
         "grpc_request_duration_seconds", "status", lambda code: code in SERVER_FAULT_CODES),
    )  # fmt: skip
    for service, then, now, counter, histogram, status_label, is_error in services:
        if now is None or not now.counter(counter, (INSTANCE_LABEL,)).keys() - {("",)}:
            continue
        traffic = _without_probes(now) if service == "web-gateway" else now
        previous = None
        if then is not None:
            previous = _without_probes(then) if service == "web-gateway" else then
        for row in _rows(
            previous,
            traffic,
            seconds,
            counter=counter,
            histogram=histogram,
            by=(INSTANCE_LABEL,),
            status_label=status_label,
            is_error=is_error,
            exemplars_since=exemplars_since,
        ):
            rows.append(dataclasses.replace(row, name=f"{service} {row.name}"))
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


def _table(heading: str, rows: Sequence[RowStats]) -> list[str]:
    width = max([len(heading), *(len(row.name) for row in rows)])
    latency = "".join(f"  {name:>{LATENCY_WIDTH}}" for name in ("P50", "P95", "P99"))
    # The column appears only when the services trace (their buckets then carry exemplars).
    traced = any(row.slowest_trace for row in rows)
    lines = [
        f"{heading:<{width}}  {'REQ/S':>8}  {'ERR%':>6}{latency}"
        + ("  SLOWEST TRACE" if traced else "")
    ]
    for row in rows:
        ratio = "-" if row.error_ratio is None else f"{row.error_ratio * 100:.1f}%"
        values = "".join(f"  {format_latency(value):>{LATENCY_WIDTH}}" for value in row.quantiles)
        line = f"{row.name:<{width}}  {row.rate:>8.1f}  {ratio:>6}{values}"
        if traced:
            line += f"  {row.slowest_trace or '-'}"
        lines.append(line)
    if not rows:
        lines.append("(no series yet)")
    return lines
