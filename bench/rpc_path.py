"""Suite 2: the RPC path with and without the project's metrics, on both sides.

Server side: in process, the interceptor-wrapped handler is called directly
against the bare servicer method (so only the interceptor's work differs); over
loopback, real unary calls measure the same difference against a whole RPC.
Client side (the gateway's): CPU of this process per GetOrder to an order-api
running as a process of its own, through a plain channel, the `MeteredChannel`
the gateway uses, and the `grpc.intercept_channel` interceptor it replaced.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from bench.answering_channel import AnsweringChannel
from bench.measure import WALL, Result, paired_difference_us, per_call
from otel.grpc_client import MeteredChannel
from otel.grpc_interceptors import RpcServerMetricsInterceptor
from otel.instruments import RpcClientMetrics, RpcServerMetrics
from otel.views import default_views
from otel_stack.harness import processes
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.running import ORDER_API, STARTUP_TIMEOUT_SECONDS, StackPorts, service_specs
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


@contextlib.contextmanager
def one_order_servicer() -> Iterator[tuple[OrderServicer, orders_pb2.GetOrderRequest]]:
    """A servicer over a temporary SQLite store holding one order, and a GetOrder of it."""
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteOrderStore(Path(directory) / "orders.db")
        try:
            order, _ = store.create("c1", (Item("sku-1", 1, 100),))
            yield OrderServicer(store), orders_pb2.GetOrderRequest(id=order.id)
        finally:
            store.close()


def run(quick: bool) -> dict[str, Any]:
    """Measure and return the suite's figures."""
    with one_order_servicer() as (servicer, request):
        in_process = _in_process(servicer, request, quick)
        loopback = _loopback(servicer, request, quick)
    return {"in_process_cpu_us": in_process, "loopback_wall_us": loopback}


def run_client(quick: bool) -> dict[str, dict[str, float]]:
    """Measure and return the client side's figures (a suite of its own: `--only rpc_client`)."""
    with tempfile.TemporaryDirectory() as directory:
        loopback = _client_loopback(Path(directory), quick)
    return {"in_process_cpu_us": _client_in_process(quick), "loopback_cpu_us": loopback}


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


class _InterceptorBaseline(grpc.UnaryUnaryClientInterceptor):
    """The client metrics interceptor `MeteredChannel` replaced, kept as the baseline."""

    def __init__(self, metrics: RpcClientMetrics) -> None:
        self._metrics = metrics

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        started = time.perf_counter()
        method = client_call_details.method
        full_method = (method.decode() if isinstance(method, bytes) else method).lstrip("/")
        call = continuation(client_call_details, request)

        def done(finished: Any) -> None:
            code = finished.code()
            name = "UNKNOWN" if code is None else code.name
            self._metrics.record(full_method, name, time.perf_counter() - started)

        call.add_done_callback(done)
        return call


def _client_metrics() -> RpcClientMetrics:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], views=default_views())
    return RpcClientMetrics(provider)


def _client_variants(channel: grpc.Channel) -> dict[str, grpc.Channel]:
    """The same channel plain, metered, and behind the interceptor it replaced."""
    return {
        "plain": channel,
        "metered": MeteredChannel(channel, _client_metrics()),
        "interceptor": grpc.intercept_channel(channel, _InterceptorBaseline(_client_metrics())),
    }


def _client_figures(results: dict[str, Result]) -> dict[str, float]:
    metered = paired_difference_us(results, "metered", "plain")
    interceptor = paired_difference_us(results, "interceptor", "plain")
    return {
        **{name: result.median_us for name, result in results.items()},
        "metered_overhead": metered,
        "interceptor_overhead": interceptor,
        "overhead_ratio": metered / interceptor,
    }


def _client_in_process(quick: bool) -> dict[str, float]:
    # Duck-typed: only the wrappers' own work differs between the variants.
    channel = cast(grpc.Channel, AnsweringChannel(orders_pb2.GetOrderResponse()))
    request = orders_pb2.GetOrderRequest(id="order-1")
    calls: dict[str, grpc.UnaryUnaryMultiCallable[Any, Any]] = {
        name: variant.unary_unary(f"/{SERVICE_NAME}/GetOrder")
        for name, variant in _client_variants(channel).items()
    }
    results = per_call(
        {name: functools.partial(call, request) for name, call in calls.items()},
        calls=2000 if quick else 10000,
        rounds=5 if quick else 15,
    )
    return _client_figures(results)


def _client_loopback(directory: Path, quick: bool) -> dict[str, float]:
    # Telemetry off in the order-api: its CPU is not this process's anyway.
    ports = StackPorts.free()
    environ = child_environ({"OTEL_SDK_DISABLED": "true"})
    specs = {spec.name: spec for spec in service_specs(ports, directory, environ)}
    order_api = processes.start(specs[ORDER_API], timeout=STARTUP_TIMEOUT_SECONDS)
    channel = grpc.insecure_channel(ports.grpc_target)
    try:
        plain = orders_pb2_grpc.OrderServiceStub(channel)
        item = orders_pb2.OrderItem(sku="sku-1", quantity=1, unit_price_cents=100)
        created = plain.CreateOrder(orders_pb2.CreateOrderRequest(customer_id="c1", items=[item]))
        request = orders_pb2.GetOrderRequest(id=created.order.id)
        stubs = {
            name: orders_pb2_grpc.OrderServiceStub(variant)
            for name, variant in _client_variants(channel).items()
        }
        results = per_call(
            {name: functools.partial(stub.GetOrder, request) for name, stub in stubs.items()},
            calls=300 if quick else 1000,
            rounds=5 if quick else 25,
        )
    finally:
        channel.close()
        processes.stop_all([order_api])
    return _client_figures(results)
