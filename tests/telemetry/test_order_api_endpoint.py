"""The order-api's /metrics over real sockets: plain start and under the launcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest

from otel_stack.harness import processes, running
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.running import free_port
from otel_stack.harness.scrape import scrape
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.prometheus import assert_promtool_clean

BUCKETS = ["0.001", "0.01", "0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"]


@pytest.fixture(params=["plain", "launcher"])
def order_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    target, metrics_port = f"127.0.0.1:{free_port()}", free_port()
    spec = running.order_api_spec(
        tmp_path / "order-api.log",
        child_environ(),
        listen=target,
        db=str(tmp_path / "orders.db"),
        metrics=("127.0.0.1", metrics_port),
        launcher=request.param == "launcher",
    )
    service = processes.start(spec, timeout=30)
    try:
        yield target, f"http://127.0.0.1:{metrics_port}/metrics", service.pid
    finally:
        assert service.stop(grace=30) == 0
        text = service.log()
        assert "Overriding" not in text and "Traceback" not in text, text


def _traffic(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        item = orders_pb2.OrderItem(sku="sku-1", quantity=2, unit_price_cents=250)
        ids = [
            stub.CreateOrder(orders_pb2.CreateOrderRequest(customer_id="c1", items=[item])).order.id
            for _ in range(3)
        ]
        for order_id in ids[:2]:
            stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id))
        for bad in (orders_pb2.GetOrderRequest(id="missing"), orders_pb2.GetOrderRequest(id="")):
            with pytest.raises(grpc.RpcError):
                stub.GetOrder(bad)
        stub.ListOrders(orders_pb2.ListOrdersRequest(customer_id="c1"))


def test_order_api_metrics_count_every_rpc_exactly(order_api: tuple[str, str, int]) -> None:
    target, url, _ = order_api
    before = scrape(url)
    assert before.value("grpc_requests_total", method="GetOrder", status="OK") == 0
    _traffic(target)

    after = scrape(url)
    assert after.value("grpc_requests_total", method="CreateOrder", status="OK") == 3
    assert after.value("grpc_requests_total", method="GetOrder", status="OK") == 2
    assert after.value("grpc_requests_total", method="GetOrder", status="NOT_FOUND") == 1
    assert after.value("grpc_requests_total", method="GetOrder", status="INVALID_ARGUMENT") == 1
    assert after.value("grpc_requests_total", method="ListOrders", status="OK") == 1
    assert after.value("orders_created_total") == 3
    assert after.value("grpc_request_duration_seconds_count", method="GetOrder") == 4
    assert after.le_bounds("grpc_request_duration_seconds", method="CreateOrder") == BUCKETS
    semconv = {
        "rpc_method": "orders.v1.OrderService/GetOrder",
        "rpc_response_status_code": "NOT_FOUND",
        "rpc_system_name": "grpc",
    }
    assert after.value("rpc_server_call_duration_seconds_count", **semconv) == 1


def test_order_api_exposition_has_the_contract_types(order_api: tuple[str, str, int]) -> None:
    target, url, _ = order_api
    _traffic(target)
    result = scrape(url)

    assert result.types["grpc_requests"] == "counter"
    assert result.types["orders_created"] == "counter"
    assert result.types["grpc_request_duration_seconds"] == "histogram"
    assert result.types["rpc_server_call_duration_seconds"] == "histogram"
    for runtime in (
        "process_cpu_time_seconds",
        "process_memory_usage_bytes",
        "cpython_gc_collections",
        "process_threads",
        "process_open_file_descriptors",
    ):
        assert runtime in result.types, runtime
    (target_info,) = result.label_sets("target_info")
    assert target_info["service_name"] == "order-api"
    assert {label["method"] for label in result.label_sets("grpc_requests_total")} == {
        "CreateOrder",
        "GetOrder",
        "ListOrders",
    }


def test_order_api_exposition_passes_promtool(order_api: tuple[str, str, int]) -> None:
    target, url, _ = order_api
    _traffic(target)
    assert_promtool_clean(scrape(url).text)


def test_openmetrics_is_served_when_asked_for(order_api: tuple[str, str, int]) -> None:
    _, url, _ = order_api
    result = scrape(url, openmetrics=True)
    assert result.text.rstrip().endswith("# EOF")


def test_order_api_listens_only_on_its_two_ports(order_api: tuple[str, str, int]) -> None:
    target, url, pid = order_api
    expected = {int(target.rpartition(":")[2]), int(url.split(":")[2].split("/")[0])}
    listening = {
        conn.laddr.port
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert listening == expected
