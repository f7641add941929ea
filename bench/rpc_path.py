"""Suite 2: the order-api's RPC path, with and without the project's metrics interceptor.

In process, the interceptor-wrapped handler is called directly against the
bare servicer method (so only the interceptor's work differs); over loopback,
real unary calls measure the same difference against a whole RPC.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any, cast

import grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from bench.measure import WALL, per_call
from otel.grpc_interceptors import RpcServerMetricsInterceptor
from otel.instruments import RpcServerMetrics
from otel.views import default_views
from services.order_api.server import SERVICE_NAME, create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store import Item
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc


class _Context:
    """The little of grpc.ServicerContext the servicer and interceptor use on the OK path."""

    def code(self) -> None:
        return None

    def set_code(self, code: grpc.StatusCode) -> None:
        return None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise RuntimeError(details)


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def run(quick: bool) -> dict[str, Any]:
    """Measure and return the suite's figures."""
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteOrderStore(Path(directory) / "orders.db")
        order, _ = store.create("c1", (Item("sku-1", 1, 100),))
        servicer = OrderServicer(store)
        request = orders_pb2.GetOrderRequest(id=order.id)
        in_process = _in_process(servicer, request, quick)
        loopback = _loopback(servicer, request, quick)
        store.close()
    return {"in_process_cpu_us": in_process, "loopback_wall_us": loopback}


def _interceptor() -> RpcServerMetricsInterceptor:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], views=default_views())
    metrics = RpcServerMetrics(provider, ["CreateOrder", "GetOrder", "ListOrders"])
    return RpcServerMetricsInterceptor(metrics, [SERVICE_NAME])


def _in_process(
    servicer: OrderServicer, request: orders_pb2.GetOrderRequest, quick: bool
) -> dict[str, float]:
    # Duck-typed: the little of grpc.ServicerContext the OK path uses.
    context = cast(grpc.ServicerContext, _Context())
    bare: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(servicer.GetOrder)
    unary = bare.unary_unary
    assert unary is not None
    interceptor = _interceptor()
    details = _Details(f"/{SERVICE_NAME}/GetOrder")

    def intercepted() -> object:
        # gRPC asks the interceptor for the handler on every call.
        handler = interceptor.intercept_service(lambda _details: bare, details)
        assert handler is not None and handler.unary_unary is not None
        return handler.unary_unary(request, context)

    results = per_call(
        {"bare": lambda: unary(request, context), "interceptor": intercepted},
        calls=2000 if quick else 10000,
        rounds=5 if quick else 15,
    )
    bare_us, with_us = results["bare"].median_us, results["interceptor"].median_us
    return {"bare": bare_us, "interceptor": with_us, "overhead": with_us - bare_us}


def _loopback(
    servicer: OrderServicer, request: orders_pb2.GetOrderRequest, quick: bool
) -> dict[str, float]:
    servers = {
        "bare": create_server("127.0.0.1:0", servicer=servicer),
        "interceptor": create_server(
            "127.0.0.1:0", servicer=servicer, interceptors=[_interceptor()]
        ),
    }
    channels = {
        name: grpc.insecure_channel(f"127.0.0.1:{port}") for name, (_, port) in servers.items()
    }
    try:
        for server, _ in servers.values():
            server.start()
        stubs = {name: orders_pb2_grpc.OrderServiceStub(ch) for name, ch in channels.items()}
        results = per_call(
            {name: functools.partial(stub.GetOrder, request) for name, stub in stubs.items()},
            calls=200 if quick else 1000,
            rounds=5 if quick else 15,
            clock=WALL,
        )
    finally:
        for channel in channels.values():
            channel.close()
        for server, _ in servers.values():
            server.stop(None)
    bare_us, with_us = results["bare"].median_us, results["interceptor"].median_us
    return {"bare": bare_us, "interceptor": with_us, "ratio": with_us / bare_us}
