"""The project's own instruments: names, units, buckets and exact counts."""

from __future__ import annotations

import threading

from opentelemetry.sdk.metrics.export import HistogramDataPoint, NumberDataPoint

from otel.instruments import (
    DURATION_BUCKETS,
    SEMCONV_DURATION_BUCKETS,
    HttpServerConnectionMetrics,
    HttpServerMetrics,
    RpcClientMetrics,
    RpcServerMetrics,
)
from tests.otel.conftest import Recorded

SERVICE = "orders.v1.OrderService"


def test_http_metrics_count_each_request_once_per_label_set(recorded: Recorded) -> None:
    metrics = HttpServerMetrics(recorded.telemetry.meter_provider)
    metrics.record("GET", "/orders/<order_id>", 200, 0.003)
    metrics.record("GET", "/orders/<order_id>", 200, 0.2)
    metrics.record("GET", "/orders/<order_id>", 404, 0.002)

    ok = {"method": "GET", "route": "/orders/<order_id>", "status_code": "200"}
    missing = {**ok, "status_code": "404"}
    assert recorded.count("http.requests", **ok) == 2
    assert recorded.count("http.requests", **missing) == 1
    assert recorded.count("http.request.duration", **ok) == 2
    assert recorded.count("http.request.duration", **missing) == 1


def test_http_duration_uses_the_contract_buckets(recorded: Recorded) -> None:
    metrics = HttpServerMetrics(recorded.telemetry.meter_provider)
    metrics.record("POST", "/orders", 201, 0.05)

    point = next(iter(recorded.points("http.request.duration").values()))
    assert isinstance(point, HistogramDataPoint)
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS
    assert list(point.bucket_counts) == [0, 0, 1, 0, 0, 0, 0, 0]
    assert recorded.metrics()["http.request.duration"].unit == "s"


def test_http_counts_are_exact_under_concurrency(recorded: Recorded) -> None:
    metrics = HttpServerMetrics(recorded.telemetry.meter_provider)

    def hammer() -> None:
        for _ in range(2000):
            metrics.record("GET", "/healthz", 200, 0.001)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    labels = {"method": "GET", "route": "/healthz", "status_code": "200"}
    assert recorded.count("http.requests", **labels) == 16000
    assert recorded.count("http.request.duration", **labels) == 16000


def test_rpc_counters_exist_at_zero_from_start(recorded: Recorded) -> None:
    RpcServerMetrics(recorded.telemetry.meter_provider, ["CreateOrder", "GetOrder", "ListOrders"])

    points = recorded.points("grpc.requests")
    assert set(points) == {
        frozenset({"method": method, "status": "OK"}.items())
        for method in ("CreateOrder", "GetOrder", "ListOrders")
    }
    assert all(isinstance(point, NumberDataPoint) and point.value == 0 for point in points.values())


def test_one_rpc_record_feeds_the_contract_and_semconv_histograms(recorded: Recorded) -> None:
    metrics = RpcServerMetrics(recorded.telemetry.meter_provider, ["GetOrder"])
    metrics.record(SERVICE, "GetOrder", "NOT_FOUND", 0.004)
    metrics.record(SERVICE, "GetOrder", "OK", 0.3)

    assert recorded.count("grpc.requests", method="GetOrder", status="NOT_FOUND") == 1
    assert recorded.count("grpc.requests", method="GetOrder", status="OK") == 1
    contract = recorded.points("grpc.request.duration")
    assert list(contract) == [frozenset({"method": "GetOrder"}.items())]
    point = next(iter(contract.values()))
    assert isinstance(point, HistogramDataPoint)
    assert point.count == 2
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS

    semconv = recorded.points("rpc.server.call.duration")
    expected = {
        "rpc.system.name": "grpc",
        "rpc.method": f"{SERVICE}/GetOrder",
        "rpc.response.status_code": "NOT_FOUND",
    }
    assert frozenset(expected.items()) in semconv
    semconv_point = semconv[frozenset(expected.items())]
    assert isinstance(semconv_point, HistogramDataPoint)
    assert tuple(semconv_point.explicit_bounds) == SEMCONV_DURATION_BUCKETS


def test_client_metrics_record_method_and_code(recorded: Recorded) -> None:
    metrics = RpcClientMetrics(recorded.telemetry.meter_provider)
    metrics.record(f"{SERVICE}/CreateOrder", "UNAVAILABLE", 0.001)

    assert (
        recorded.count(
            "rpc.client.call.duration",
            **{
                "rpc.system.name": "grpc",
                "rpc.method": f"{SERVICE}/CreateOrder",
                "rpc.response.status_code": "UNAVAILABLE",
            },
        )
        == 1
    )


class _Server:
    """What an HTTP server tells the connection metrics."""

    def __init__(self) -> None:
        self.active, self.idle, self.refused_connections = 0, 0, 0

    def connection_counts(self) -> tuple[int, int]:
        return self.active, self.idle


def test_connection_metrics_read_the_server_at_collection(recorded: Recorded) -> None:
    server = _Server()
    HttpServerConnectionMetrics(recorded.telemetry.meter_provider, server)
    assert recorded.count("http.server.open_connections", **{"http.connection.state": "idle"}) == 0
    assert recorded.count("http.server.refused_connections") == 0

    server.active, server.idle, server.refused_connections = 3, 250, 7

    open_connections = "http.server.open_connections"
    assert recorded.count(open_connections, **{"http.connection.state": "active"}) == 3
    assert recorded.count(open_connections, **{"http.connection.state": "idle"}) == 250
    assert recorded.count("http.server.refused_connections") == 7
