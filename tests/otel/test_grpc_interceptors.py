"""The gRPC metrics interceptors on a real server and channel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.metrics.export import HistogramDataPoint

from otel import grpc_client, grpc_interceptors
from otel.instruments import RpcServerMetrics
from services.order_api.server import SERVICE_NAME, create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.otel.conftest import Recorded


class _BrokenStore(SqliteOrderStore):
    def get(self, order_id: str) -> None:
        raise RuntimeError("disk on fire")


class _RawFailureServicer(OrderServicer):
    """Raises straight out of the servicer, without the servicer's own mapping."""

    def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        raise ValueError("unmapped")


@pytest.fixture
def channel(recorded: Recorded, tmp_path: Path) -> Iterator[grpc.Channel]:
    servicer = _RawFailureServicer(_BrokenStore(tmp_path / "orders.db"))
    server, port = create_server(
        "127.0.0.1:0",
        servicer=servicer,
        interceptors=grpc_interceptors.server_interceptors(recorded.telemetry, [SERVICE_NAME]),
    )
    server.start()
    plain = grpc.insecure_channel(f"127.0.0.1:{port}")
    intercepted = grpc_client.instrument_channel(plain, recorded.telemetry)
    yield intercepted
    plain.close()
    server.stop(None)


def _code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)  # a failed call's error is also the call
        return error.code()
    return grpc.StatusCode.OK


def test_each_rpc_is_counted_once_with_its_final_code(
    recorded: Recorded, channel: grpc.Channel
) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    item = orders_pb2.OrderItem(sku="sku-1", quantity=1, unit_price_cents=10)
    create = orders_pb2.CreateOrderRequest(customer_id="c1", items=[item])

    assert _code_of(lambda: stub.CreateOrder(create)) == grpc.StatusCode.OK
    assert _code_of(lambda: stub.CreateOrder(orders_pb2.CreateOrderRequest())) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert _code_of(lambda: stub.GetOrder(orders_pb2.GetOrderRequest(id="x"))) == (
        grpc.StatusCode.INTERNAL
    )
    assert _code_of(lambda: stub.ListOrders(orders_pb2.ListOrdersRequest())) == (
        grpc.StatusCode.UNKNOWN
    )

    assert recorded.count("grpc.requests", method="CreateOrder", status="OK") == 1
    assert recorded.count("grpc.requests", method="CreateOrder", status="INVALID_ARGUMENT") == 1
    assert recorded.count("grpc.requests", method="GetOrder", status="INTERNAL") == 1
    assert recorded.count("grpc.requests", method="ListOrders", status="UNKNOWN") == 1
    assert recorded.count("grpc.request.duration", method="CreateOrder") == 2


def test_client_side_records_the_same_calls_and_codes(
    recorded: Recorded, channel: grpc.Channel
) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    _code_of(lambda: stub.GetOrder(orders_pb2.GetOrderRequest(id="x")))

    client = recorded.points("rpc.client.call.duration")
    expected = {
        "rpc.system.name": "grpc",
        "rpc.method": f"{SERVICE_NAME}/GetOrder",
        "rpc.response.status_code": "INTERNAL",
    }
    point = client[frozenset(expected.items())]
    assert isinstance(point, HistogramDataPoint) and point.count == 1


def test_health_checks_and_unknown_methods_are_not_recorded(
    recorded: Recorded, channel: grpc.Channel
) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    health.Check(health_pb2.HealthCheckRequest(service=""))
    unknown: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        f"/{SERVICE_NAME}/DropTables"
    )
    assert _code_of(lambda: unknown(b"")) == grpc.StatusCode.UNIMPLEMENTED

    server_points = recorded.points("grpc.requests")
    assert {dict(key)["method"] for key in server_points} == {
        "CreateOrder",
        "GetOrder",
        "ListOrders",
    }
    assert "rpc.server.call.duration" not in recorded.metrics()


def test_unreachable_server_is_recorded_as_unavailable(recorded: Recorded) -> None:
    channel = grpc_client.instrument_channel(
        grpc.insecure_channel("127.0.0.1:1"), recorded.telemetry
    )
    stub = orders_pb2_grpc.OrderServiceStub(channel)

    code = _code_of(lambda: stub.GetOrder(orders_pb2.GetOrderRequest(id="x"), timeout=2))

    assert code == grpc.StatusCode.UNAVAILABLE
    attributes = {
        "rpc.system.name": "grpc",
        "rpc.method": f"{SERVICE_NAME}/GetOrder",
        "rpc.response.status_code": "UNAVAILABLE",
    }
    assert recorded.count("rpc.client.call.duration", **attributes) == 1


class _Context:
    """The part of grpc.ServicerContext the interceptor reads."""

    def __init__(self) -> None:
        self._code: grpc.StatusCode | None = None

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def _intercepted(
    recorded: Recorded, handler: grpc.RpcMethodHandler[Any, Any], method: str
) -> grpc.RpcMethodHandler[Any, Any]:
    metrics = RpcServerMetrics(recorded.telemetry.meter_provider, [method])
    interceptor = grpc_interceptors.RpcServerMetricsInterceptor(metrics, [SERVICE_NAME])
    wrapped = interceptor.intercept_service(
        lambda _details: handler, _Details(f"/{SERVICE_NAME}/{method}")
    )
    assert wrapped is not None and wrapped is not handler
    return wrapped


def _context() -> grpc.ServicerContext:
    return cast(grpc.ServicerContext, _Context())


def test_a_streamed_response_is_recorded_when_the_stream_ends(recorded: Recorded) -> None:
    streaming: grpc.RpcMethodHandler[Any, Any] = grpc.unary_stream_rpc_method_handler(
        lambda request, context: iter([1, 2, 3])
    )
    handler = _intercepted(recorded, streaming, "ListOrders")
    assert handler.unary_stream is not None

    responses = handler.unary_stream(None, _context())
    assert recorded.count("grpc.requests", method="ListOrders", status="OK") == 0
    assert list(responses) == [1, 2, 3]
    assert recorded.count("grpc.requests", method="ListOrders", status="OK") == 1


def test_a_streamed_request_is_recorded_once_with_its_answer(recorded: Recorded) -> None:
    summing: grpc.RpcMethodHandler[Any, Any] = grpc.stream_unary_rpc_method_handler(
        lambda requests, context: sum(requests)
    )
    handler = _intercepted(recorded, summing, "Upload")
    assert handler.stream_unary is not None

    assert handler.stream_unary(iter([1, 2, 3]), _context()) == 6
    assert recorded.count("grpc.requests", method="Upload", status="OK") == 1


def test_a_failing_streamed_request_is_recorded_as_unknown(recorded: Recorded) -> None:
    def fail(requests: Iterator[int], context: grpc.ServicerContext) -> int:
        raise ValueError("unmapped")

    handler = _intercepted(recorded, grpc.stream_unary_rpc_method_handler(fail), "Upload")
    assert handler.stream_unary is not None

    with pytest.raises(ValueError, match="unmapped"):
        handler.stream_unary(iter([1]), _context())
    assert recorded.count("grpc.requests", method="Upload", status="UNKNOWN") == 1


def test_a_bidirectional_stream_is_recorded_when_the_response_stream_ends(
    recorded: Recorded,
) -> None:
    echo: grpc.RpcMethodHandler[Any, Any] = grpc.stream_stream_rpc_method_handler(
        lambda requests, context: (request * 2 for request in requests)
    )
    handler = _intercepted(recorded, echo, "Chat")
    assert handler.stream_stream is not None

    responses = handler.stream_stream(iter([1, 2]), _context())
    assert next(responses) == 2
    assert recorded.count("grpc.requests", method="Chat", status="OK") == 0
    assert list(responses) == [4]
    assert recorded.count("grpc.requests", method="Chat", status="OK") == 1


def test_an_aborted_bidirectional_stream_keeps_the_abort_code(recorded: Recorded) -> None:
    def abort(requests: Iterator[int], context: grpc.ServicerContext) -> Iterator[int]:
        yield next(requests)
        context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
        raise RuntimeError("aborted")  # what context.abort() raises after setting the code

    handler = _intercepted(recorded, grpc.stream_stream_rpc_method_handler(abort), "Chat")
    assert handler.stream_stream is not None

    responses = handler.stream_stream(iter([7, 8]), _context())
    assert next(responses) == 7
    with pytest.raises(RuntimeError):
        next(responses)
    assert recorded.count("grpc.requests", method="Chat", status="RESOURCE_EXHAUSTED") == 1
