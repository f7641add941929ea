"""The metric contract on both /metrics endpoints over real sockets, plain and with the launcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_stack.harness.running import Stack, running_stack
from otel_stack.harness.scrape import Exposition, scrape
from tests.support.known_traffic import GATEWAY_COUNTS, ORDER_API_COUNTS, send_known_mix
from tests.support.prometheus import assert_promtool_clean

BUCKETS = ["0.001", "0.01", "0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"]


@pytest.fixture(scope="module", params=["plain", "launcher"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp_path: Path = tmp_path_factory.mktemp(request.param)
    with running_stack(tmp_path, launcher=request.param == "launcher") as running:
        send_known_mix(running)
        yield running
        logs = running.log("order-api") + running.log("web-gateway")
    assert "Overriding of current" not in logs
    assert "Traceback" not in logs


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Exposition:
    return scrape(stack.gateway_url + "/metrics")


@pytest.fixture(scope="module")
def order_api(stack: Stack) -> Exposition:
    return scrape(stack.order_api_metrics_url)


def test_gateway_counts_every_request_once_with_its_final_status(gateway: Exposition) -> None:
    for (method, route, status), count in GATEWAY_COUNTS.items():
        labels = {"method": method, "route": route, "status_code": status}
        assert gateway.value("http_requests_total", **labels) == count, labels


def test_gateway_histogram_matches_the_counter(gateway: Exposition) -> None:
    labels = {"method": "GET", "route": "/orders/<order_id>", "status_code": "200"}
    assert gateway.value("http_request_duration_seconds_count", **labels) == 2
    assert gateway.le_bounds("http_request_duration_seconds", **labels) == BUCKETS


def test_metrics_scrapes_are_not_counted(gateway: Exposition) -> None:
    routes = {labels["route"] for labels in gateway.label_sets("http_requests_total")}
    assert "/metrics" not in routes
    semconv_routes = {
        labels.get("http_route")
        for labels in gateway.label_sets("http_server_request_duration_seconds_count")
    }
    assert "/metrics" not in semconv_routes


def test_gateway_has_the_semconv_http_histogram_in_seconds(gateway: Exposition) -> None:
    assert gateway.types["http_server_request_duration_seconds"] == "histogram"
    labels = {
        "http_request_method": "GET",
        "http_route": "/orders/<order_id>",
        "http_response_status_code": "200",
        "network_protocol_version": "1.1",
        "url_scheme": "http",
    }
    assert gateway.value("http_server_request_duration_seconds_count", **labels) == 2


def test_gateway_records_its_calls_to_the_order_api(gateway: Exposition) -> None:
    def calls(method: str, code: str) -> float:
        return gateway.value(
            "rpc_client_call_duration_seconds_count",
            rpc_method=f"orders.v1.OrderService/{method}",
            rpc_response_status_code=code,
            rpc_system_name="grpc",
        )

    assert calls("CreateOrder", "OK") == 3
    assert calls("GetOrder", "OK") == 2
    assert calls("GetOrder", "NOT_FOUND") == 1
    assert calls("ListOrders", "OK") == 1


def test_order_api_counts_the_gateways_calls(order_api: Exposition) -> None:
    for (method, status), count in ORDER_API_COUNTS.items():
        assert order_api.value("grpc_requests_total", method=method, status=status) == count
    assert order_api.value("orders_created_total") == 3
    assert order_api.le_bounds("grpc_request_duration_seconds", method="GetOrder") == BUCKETS


def _assert_runtime_metrics(result: Exposition, service_name: str) -> None:
    for family, kind in (
        ("process_cpu_time_seconds", "counter"),
        ("process_memory_usage_bytes", "gauge"),
        ("cpython_gc_collections", "counter"),
        ("process_threads", "gauge"),
        ("process_open_file_descriptors", "gauge"),
    ):
        assert result.types.get(family) == kind, family
    (info,) = result.label_sets("target_info")
    assert info["service_name"] == service_name


def test_gateway_has_runtime_metrics_and_target_info(gateway: Exposition) -> None:
    _assert_runtime_metrics(gateway, "web-gateway")


def test_order_api_has_runtime_metrics_and_target_info(order_api: Exposition) -> None:
    _assert_runtime_metrics(order_api, "order-api")


def test_gateway_exposition_passes_promtool(gateway: Exposition) -> None:
    assert_promtool_clean(gateway.text)


def test_order_api_exposition_passes_promtool(order_api: Exposition) -> None:
    assert_promtool_clean(order_api.text)


def test_gateway_serves_openmetrics_when_asked(stack: Stack) -> None:
    result = scrape(stack.gateway_url + "/metrics", openmetrics=True)
    assert result.text.rstrip().endswith("# EOF")
