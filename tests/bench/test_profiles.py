"""Suite 13: the floor variants do what they stand for; figures of several processes combined."""

from __future__ import annotations

from typing import cast

import grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from bench.answering_channel import AnsweringChannel
from bench.profiles import (
    _PARENT_ID,
    _TRACE_ID,
    _Details,
    _ExtractingInterceptor,
    _InjectingChannel,
    _Metadatum,
    _ServicerContext,
    combined,
)


def _run(unsampled_cpu: float, over: float) -> dict[str, dict[str, dict[str, float]]]:
    side = {
        "cpu_us": {"default": 300.0, "unsampled": unsampled_cpu},
        "over_default_us": {"unsampled": over},
    }
    return {"gateway": side, "rpc": side}


def test_processes_combine_into_medians_and_the_range_over_default() -> None:
    figures = combined([_run(340.0, 40.0), _run(320.0, 25.0), _run(330.0, 31.0)])
    assert figures["processes"] == 3
    assert figures["gateway"]["cpu_us"] == {"default": 300.0, "unsampled": 330.0}
    assert figures["gateway"]["over_default_us"] == {"unsampled": 31.0}
    assert figures["gateway"]["over_default_range_us"] == {"unsampled": [25.0, 40.0]}


def test_the_gateway_floor_sends_the_current_context_in_traceparent() -> None:
    answering = AnsweringChannel(object())
    channel = _InjectingChannel(cast(grpc.Channel, answering))
    span = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_span("request")
    with trace.use_span(span):
        channel.unary_unary("/orders.v1.OrderService/GetOrder")(object(), metadata=(("a", "b"),))
    ids = span.get_span_context()
    sent = dict(cast(tuple[tuple[str, str], ...], answering.calls.metadata))
    parent = f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"
    assert sent == {"a": "b", "traceparent": parent}
    assert not ids.trace_flags.sampled


def test_the_order_api_floor_runs_the_handler_in_the_callers_context() -> None:
    seen: list[trace.SpanContext] = []

    def behavior(request: object, context: object) -> None:
        seen.append(trace.get_current_span().get_span_context())

    metadata = (_Metadatum("traceparent", f"00-{_TRACE_ID}-{_PARENT_ID}-00"),)
    handler: grpc.RpcMethodHandler[object, None] = grpc.unary_unary_rpc_method_handler(behavior)
    resolved = _ExtractingInterceptor().intercept_service(
        lambda _details: handler, _Details("/orders.v1.OrderService/GetOrder", metadata)
    )
    assert resolved is not None and resolved.unary_unary is not None
    resolved.unary_unary(object(), cast(grpc.ServicerContext, _ServicerContext(metadata)))
    assert [(f"{c.trace_id:032x}", f"{c.span_id:016x}", c.is_remote) for c in seen] == [
        (_TRACE_ID, _PARENT_ID, True)
    ]
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached after the call
