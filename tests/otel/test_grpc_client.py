"""The metered client channel against a real order-api on a loopback port."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel import grpc_client
from otel.grpc_client import MeteredChannel, MeteredUnaryUnary
from otel.instruments import RpcClientMetrics
from services.order_api.server import SERVICE_NAME
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.otel.conftest import Recorded
from tests.support.order_api import RunningOrderApi, create_request, start_order_api

GET_ORDER = f"{SERVICE_NAME}/GetOrder"
WAIT_SECONDS = 5.0

# A GetOrder call made one of the three ways a unary multicallable offers; returns the response.
# (The multicallable type is generic only in the type stubs, hence the quotes.)
Invoke = Callable[["grpc.UnaryUnaryMultiCallable[Any, Any]", orders_pb2.GetOrderRequest], Any]


def _call(get: grpc.UnaryUnaryMultiCallable[Any, Any], request: Any) -> Any:
    return get(request, timeout=WAIT_SECONDS)


def _with_call(get: grpc.UnaryUnaryMultiCallable[Any, Any], request: Any) -> Any:
    response, call = get.with_call(request, timeout=WAIT_SECONDS)
    assert call.code() == grpc.StatusCode.OK
    return response


def _future(get: grpc.UnaryUnaryMultiCallable[Any, Any], request: Any) -> Any:
    future = get.future(request, timeout=WAIT_SECONDS)
    # Done callbacks run in registration order, so the channel's own has run once this is set.
    finished = threading.Event()
    future.add_done_callback(lambda _future: finished.set())
    assert finished.wait(WAIT_SECONDS)
    return future.result()


INVOCATIONS = [
    pytest.param(_call, id="call"),
    pytest.param(_with_call, id="with_call"),
    pytest.param(_future, id="future"),
]


@pytest.fixture
def order_api(tmp_path: Path) -> Iterator[RunningOrderApi]:
    running = start_order_api(tmp_path / "orders.db")
    yield running
    running.stop()


@pytest.fixture
def metered(recorded: Recorded, order_api: RunningOrderApi) -> Iterator[grpc.Channel]:
    channel = grpc_client.instrument_channel(
        grpc.insecure_channel(order_api.target), recorded.telemetry
    )
    assert isinstance(channel, MeteredChannel)
    yield channel
    channel.close()


def _get_order(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
    return orders_pb2_grpc.OrderServiceStub(channel).GetOrder


def _recorded_calls(recorded: Recorded, code: str) -> float:
    return recorded.count(
        "rpc.client.call.duration",
        **{
            "rpc.system.name": "grpc",
            "rpc.method": GET_ORDER,
            "rpc.response.status_code": code,
        },
    )


@pytest.mark.parametrize("invoke", INVOCATIONS)
def test_a_successful_call_is_recorded_once_as_ok(
    recorded: Recorded, order_api: RunningOrderApi, metered: grpc.Channel, invoke: Invoke
) -> None:
    created = order_api.stub.CreateOrder(create_request(), timeout=WAIT_SECONDS)

    response = invoke(_get_order(metered), orders_pb2.GetOrderRequest(id=created.order.id))

    assert response.order.id == created.order.id
    assert _recorded_calls(recorded, "OK") == 1
    assert len(recorded.points("rpc.client.call.duration")) == 1


@pytest.mark.parametrize("invoke", INVOCATIONS)
def test_a_failed_call_is_recorded_once_with_its_status_code(
    recorded: Recorded, metered: grpc.Channel, invoke: Invoke
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        invoke(_get_order(metered), orders_pb2.GetOrderRequest(id="no-such-order"))

    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert _recorded_calls(recorded, "NOT_FOUND") == 1
    assert len(recorded.points("rpc.client.call.duration")) == 1


def test_the_recorded_duration_is_a_positive_number_of_seconds(
    recorded: Recorded, metered: grpc.Channel
) -> None:
    with pytest.raises(grpc.RpcError):
        _call(_get_order(metered), orders_pb2.GetOrderRequest(id="no-such-order"))

    (point,) = recorded.points("rpc.client.call.duration").values()
    assert isinstance(point, HistogramDataPoint)
    assert 0 < point.sum < WAIT_SECONDS


def test_the_metered_channel_wraps_the_tracing_channel_and_both_see_the_call(
    recorded: Recorded, order_api: RunningOrderApi
) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = dataclasses.replace(
        recorded.telemetry, tracer_provider=tracer_provider, tracing=True
    )
    channel = grpc_client.instrument_channel(grpc.insecure_channel(order_api.target), telemetry)
    try:
        with pytest.raises(grpc.RpcError):
            _call(_get_order(channel), orders_pb2.GetOrderRequest(id="no-such-order"))
    finally:
        channel.close()
        tracer_provider.shutdown()

    assert isinstance(channel, MeteredChannel)
    (span,) = spans.get_finished_spans()
    assert span.kind == SpanKind.CLIENT and span.name == f"/{GET_ORDER}"
    assert _recorded_calls(recorded, "NOT_FOUND") == 1


def test_a_call_inside_a_sampled_span_keeps_that_span_as_its_exemplar(
    recorded: Recorded, metered: grpc.Channel
) -> None:
    tracer_provider = TracerProvider()
    tracer = tracer_provider.get_tracer(__name__)
    with tracer.start_as_current_span("gateway request") as span, pytest.raises(grpc.RpcError):
        _call(_get_order(metered), orders_pb2.GetOrderRequest(id="no-such-order"))
    tracer_provider.shutdown()

    (point,) = recorded.points("rpc.client.call.duration").values()
    assert isinstance(point, HistogramDataPoint)
    assert [exemplar.trace_id for exemplar in point.exemplars] == [span.get_span_context().trace_id]


def test_streaming_methods_are_passed_through_unmetered(metered: grpc.Channel) -> None:
    method = f"/{SERVICE_NAME}/Anything"
    assert isinstance(metered.unary_unary(method), MeteredUnaryUnary)
    assert not isinstance(metered.unary_stream(method), MeteredUnaryUnary)
    assert not isinstance(metered.stream_unary(method), MeteredUnaryUnary)
    assert not isinstance(metered.stream_stream(method), MeteredUnaryUnary)


def test_connectivity_is_watched_on_the_wrapped_channel(metered: grpc.Channel) -> None:
    # channel_ready_future subscribes, waits for READY and unsubscribes.
    grpc.channel_ready_future(metered).result(timeout=WAIT_SECONDS)


def test_leaving_the_with_block_closes_the_wrapped_channel(
    recorded: Recorded, order_api: RunningOrderApi
) -> None:
    plain = grpc.insecure_channel(order_api.target)
    get_plainly = _get_order(plain)
    with MeteredChannel(plain, RpcClientMetrics(recorded.telemetry.meter_provider)) as metered:
        assert isinstance(metered, MeteredChannel)

    with pytest.raises(ValueError, match="closed channel"):
        get_plainly(orders_pb2.GetOrderRequest(id="x"), timeout=WAIT_SECONDS)


class _FailsBeforeAnyStatus:
    """A multicallable that fails without an RPC status (e.g. a bug in a wrapper below)."""

    def __call__(self, *args: object) -> object:
        raise RuntimeError("no status")


def test_a_failure_without_a_status_is_recorded_as_unknown(recorded: Recorded) -> None:
    metrics = RpcClientMetrics(recorded.telemetry.meter_provider)
    inner: Any = _FailsBeforeAnyStatus()
    call = MeteredUnaryUnary(inner, GET_ORDER, metrics)

    with pytest.raises(RuntimeError, match="no status"):
        call(orders_pb2.GetOrderRequest(id="x"))

    assert _recorded_calls(recorded, "UNKNOWN") == 1
