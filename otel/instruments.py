"""Every instrument the project creates itself, with its name, unit, buckets and meaning.

Prometheus names follow from the OTel names by the exporter's rules (dots to
underscores, unit suffix, `_total` for counters): `http.requests` with unit
`{request}` is published as `http_requests_total`.

Request counters are observable counters over exact in-process counts rather
than `Counter.add` calls: the SDK cleans and hashes the attributes of every
synchronous measurement, and a counter that always moves with a histogram
need not pay that twice (docs/benchmarks.md, section 1). Label values come from bounded sets by
construction (method allow-list, URL rule, status code).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation
from opentelemetry.semconv._incubating.attributes.rpc_attributes import (
    RPC_METHOD,
    RPC_RESPONSE_STATUS_CODE,
    RPC_SYSTEM_NAME,
    RpcSystemNameValues,
)
from opentelemetry.semconv._incubating.metrics.rpc_metrics import (
    RPC_CLIENT_CALL_DURATION,
    RPC_SERVER_CALL_DURATION,
)

METER_NAME = "otel-python-microservices"
METER_VERSION = "0.1.0"

# The contract's buckets for the seed's request histograms (seconds).
DURATION_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0)
# Semantic-convention duration histograms use the HTTP semconv advisory buckets.
SEMCONV_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
OTHER_METHOD = "_OTHER"
UNMATCHED_ROUTE = "unmatched"

# The attributes of both RPC duration histograms (RPC semantic conventions).
RPC_ATTRIBUTES = frozenset((RPC_SYSTEM_NAME, RPC_METHOD, RPC_RESPONSE_STATUS_CODE))
GRPC_REQUEST_DURATION = "grpc.request.duration"
HTTP_REQUEST_DURATION = "http.request.duration"


def project_meter(meter_provider: MeterProvider) -> Meter:
    """Return the meter every project instrument is created on."""
    return meter_provider.get_meter(METER_NAME, METER_VERSION)


def duration_histogram(
    meter: Meter, name: str, description: str, buckets: Sequence[float]
) -> Histogram:
    """A duration histogram in seconds, its bucket bounds travelling with the instrument."""
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
    )


class ExactCounts:
    """Thread-safe counts per label tuple, published through an observable counter."""

    def __init__(self, label_names: Sequence[str], initial: Iterable[tuple[str, ...]] = ()) -> None:
        self._label_names = tuple(label_names)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], int] = dict.fromkeys(initial, 0)

    def add(self, labels: tuple[str, ...]) -> None:
        """Count one event with these label values."""
        with self._lock:
            self._counts[labels] = self._counts.get(labels, 0) + 1

    def publish(self, meter: Meter, name: str, description: str) -> None:
        """Publish the counts on `meter` as the observable counter `name` of requests."""
        meter.create_observable_counter(
            name, callbacks=[self.observe], unit="{request}", description=description
        )

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Observable-counter callback: the current total per label set."""
        with self._lock:
            snapshot = list(self._counts.items())
        for labels, count in snapshot:
            yield Observation(count, dict(zip(self._label_names, labels, strict=True)))


class HttpServerMetrics:
    """`http_requests_total` and `http_request_duration_seconds` of the gateway."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = project_meter(meter_provider)
        self._counts = ExactCounts(("method", "route", "status_code"))
        self._counts.publish(
            meter,
            "http.requests",
            "HTTP requests served, by method, matched route and status code.",
        )
        self._duration = duration_histogram(
            meter,
            HTTP_REQUEST_DURATION,
            "Time to serve an HTTP request, by method, matched route and status code.",
            DURATION_BUCKETS,
        )
        self._attributes: dict[tuple[str, str, str], dict[str, str]] = {}

    def record(self, method: str, route: str, status_code: int, seconds: float) -> None:
        """Record one served request; `method` and `route` must already be bounded."""
        labels = (method, route, str(status_code))
        self._counts.add(labels)
        attributes = self._attributes.get(labels)
        if attributes is None:
            attributes = {"method": labels[0], "route": labels[1], "status_code": labels[2]}
            self._attributes[labels] = attributes
        self._duration.record(seconds, attributes)


class ConnectionCounts(Protocol):
    """What an HTTP server tells about its connections."""

    refused_connections: int

    def connection_counts(self) -> tuple[int, int]:
        """(active, idle): open connections with a request being served, and the others."""
        ...


class HttpServerConnectionMetrics:
    """The gateway's HTTP connections: open ones by state, and those refused at the limit.

    The semantic conventions define no HTTP server connection metrics; these follow
    their client-side `http.client.open_connections` (state `active`/`idle` in
    `http.connection.state`). Published as `http_server_open_connections` and
    `http_server_refused_connections_total`, read from the server at collection.
    """

    def __init__(self, meter_provider: MeterProvider, server: ConnectionCounts) -> None:
        meter = project_meter(meter_provider)
        self._server = server
        meter.create_observable_gauge(
            "http.server.open_connections",
            callbacks=[self._open],
            unit="{connection}",
            description="Open HTTP connections: active (a request of it is being served) "
            "or idle (waiting for or reading a request).",
        )
        meter.create_observable_counter(
            "http.server.refused_connections",
            callbacks=[self._refused],
            unit="{connection}",
            description="HTTP connections refused (answered 503 and closed) at the "
            "connection limit.",
        )

    def _open(self, _options: CallbackOptions) -> Iterable[Observation]:
        active, idle = self._server.connection_counts()
        yield Observation(active, {"http.connection.state": "active"})
        yield Observation(idle, {"http.connection.state": "idle"})

    def _refused(self, _options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._server.refused_connections)


class RpcServerMetrics:
    """The order-api's RPC metrics: the contract's and the semantic-convention histogram.

    One `record` feeds three series families: `grpc_requests_total` (exact
    counts), and through two Views on the one histogram instrument
    `rpc_server_call_duration_seconds` (semconv attributes) and
    `grpc_request_duration_seconds` (`method` only, the contract's buckets).
    See `otel.views`.
    """

    def __init__(self, meter_provider: MeterProvider, methods: Iterable[str]) -> None:
        meter = project_meter(meter_provider)
        self._counts = ExactCounts(("method", "status"), ((m, "OK") for m in methods))
        self._counts.publish(
            meter,
            "grpc.requests",
            "RPCs served by the order-api, by method and final gRPC status code.",
        )
        self._duration = duration_histogram(
            meter,
            RPC_SERVER_CALL_DURATION,
            "Measures the duration of an incoming Remote Procedure Call (RPC).",
            SEMCONV_DURATION_BUCKETS,
        )
        self._attributes: dict[tuple[str, str, str], dict[str, str]] = {}

    def record(self, service: str, method: str, code: str, seconds: float) -> None:
        """Record one finished RPC with its final status code name (e.g. `NOT_FOUND`)."""
        self._counts.add((method, code))
        key = (service, method, code)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = {
                RPC_SYSTEM_NAME: RpcSystemNameValues.GRPC.value,
                RPC_METHOD: f"{service}/{method}",
                RPC_RESPONSE_STATUS_CODE: code,
                "method": method,
            }
            self._attributes[key] = attributes
        self._duration.record(seconds, attributes)


class RpcClientMetrics:
    """`rpc_client_call_duration_seconds` of the gateway's calls to the order-api."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        self._duration = duration_histogram(
            project_meter(meter_provider),
            RPC_CLIENT_CALL_DURATION,
            "Measures the duration of an outgoing Remote Procedure Call (RPC).",
            SEMCONV_DURATION_BUCKETS,
        )
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}

    def record(self, full_method: str, code: str, seconds: float) -> None:
        """Record one finished call; `full_method` is `package.Service/Method`."""
        key = (full_method, code)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = {
                RPC_SYSTEM_NAME: RpcSystemNameValues.GRPC.value,
                RPC_METHOD: full_method,
                RPC_RESPONSE_STATUS_CODE: code,
            }
            self._attributes[key] = attributes
        self._duration.record(seconds, attributes)
