"""Suite 13: what tracing costs per request in each profile, and where it goes (cProfile).

One gateway request (`GET /orders/<id>` through the WSGI app and the gateway's
instrumented gRPC client, the channel below it answering at once) and one
order-api RPC (`GetOrder` through the server's interceptors, called the way
gRPC calls them, with the gateway's `traceparent` in its metadata) in each
profile, built with the services' own code (`instrument_app`,
`instrument_channel`, `server_interceptors`):

- `default`: Prometheus metrics, no traces (no tracer provider, exemplars off);
- `unsampled`: traces exported, sampler `always_off` (the cost of a request a
  sampler drops);
- `sampled_10pct`: `parentbased_traceidratio` 0.1;
- `every_trace`: the SDK's default sampler (`parentbased_always_on`);
- `unsampled_upstream_path`: `unsampled` with every call through upstream's gRPC
  interceptors (what the services did before `otel.grpc_tracing`'s short path).

Two more gateway variants measure the floor of an unsampled request, what it
costs with none of the project's tracing code (`FLOOR_VARIANTS`):

- `flask_sdk_tracer`: the default, but upstream's Flask instrumentation is given
  the SDK's tracer (sampler `always_off`) instead of a no-op one;
- `unsampled_floor`: what an unsampled request must do for what users see, by
  upstream's functions alone: that Flask span, the trace-based exemplar filter,
  the access line's ids, and `propagate.inject` of the current context into the
  call's metadata (W3C `traceparent`, sampled flag unset).

The order-api's `unsampled_floor` is the same for one RPC: upstream's
`propagate.extract` of the caller's context made current around the handler
(its log and access lines carry the caller's ids), the trace-based exemplar
filter and the access line's ids, behind the services' metrics interceptor.

Spans go through a batch span processor into a discarding exporter, flushed at
the end of each round inside the measured window. CPU µs per call, interleaved
rounds, in `PROCESSES` fresh interpreters one after another (a figure moves
more between processes than between rounds of one: each process reports its
medians, the suite their median and range); then each variant once more under
cProfile, whose top functions by own time (tottime) say where the µs go.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TextIO, cast

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.instrumentation.grpc import client_interceptor, grpcext, server_interceptor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    Sampler,
)
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

from bench.answering_channel import AnsweringChannel
from bench.cprofile_shares import grouped_difference, profile_of, top_functions
from bench.gateway_path import ORDER_ID, _caller
from bench.measure import paired_difference_us, per_call
from bench.rpc_path import one_order_servicer
from otel.access_log import AccessLineWriter, AccessLog
from otel.exemplars import ExemplarPrometheusReader, exemplar_filter
from otel.grpc_channel import (
    CallOptions,
    CallStyle,
    DelegatingChannel,
    MethodArgs,
    WrappedUnaryUnary,
    call_in_style,
)
from otel.grpc_client import MeteredChannel, instrument_channel
from otel.grpc_interceptors import RpcServerMetricsInterceptor, server_interceptors
from otel.instruments import RpcClientMetrics, RpcServerMetrics
from otel.sdk import Telemetry
from otel.views import default_views
from services.order_api.server import SERVICE_NAME
from services.order_api.servicer import OrderServicer
from services.proto.orders.v1 import orders_pb2
from services.web_gateway.app import create_app
from services.web_gateway.client import OrderClient

# Each profile's sampler; None: no traces at all (the default profile).
SAMPLERS: dict[str, Sampler | None] = {
    "default": None,
    "unsampled": ALWAYS_OFF,
    "sampled_10pct": ParentBasedTraceIdRatio(0.1),
    "every_trace": DEFAULT_ON,
    "unsampled_upstream_path": ALWAYS_OFF,
}
UPSTREAM_PATH = "unsampled_upstream_path"
# The floor variants (see the module's docstring): both on the gateway, the second on the
# order-api too. Timed only: their top functions are not listed.
FLOOR_VARIANTS = ("flask_sdk_tracer", "unsampled_floor")
# The order-api's methods, as its metrics interceptor is told them.
_METHODS = ["CreateOrder", "GetOrder", "ListOrders"]
# Fresh interpreters the timing runs in (one with --quick).
PROCESSES = 3
# A traceparent as the gateway sends it (the sampled flag set per profile).
_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
_PARENT_ID = "00f067aa0ba902b7"


class _DiscardingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Devnull(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def telemetry_for(profile: str, service: str) -> tuple[Telemetry, TracerProvider | None]:
    """The services' Telemetry for one profile, spans into a discarding exporter."""
    sampler = SAMPLERS[profile]
    tracing = sampler is not None
    reader = ExemplarPrometheusReader(scope_info_enabled=False, registry=CollectorRegistry())
    meter_provider = MeterProvider(
        metric_readers=[reader],
        views=default_views(),
        exemplar_filter=exemplar_filter(None, tracing=tracing),
    )
    tracer_provider: TracerProvider | None = None
    if sampler is not None:
        tracer_provider = TracerProvider(sampler=sampler)
        # Export only at the flush ending each round, inside the measured window.
        tracer_provider.add_span_processor(
            BatchSpanProcessor(_DiscardingExporter(), schedule_delay_millis=3_600_000)
        )
    access_log = AccessLog(1.0, AccessLineWriter(service, stream=cast(TextIO, _Devnull())))
    telemetry = Telemetry(
        service,
        meter_provider,
        tracer_provider or NoOpTracerProvider(),
        tracing=tracing,
        access_log=access_log,
    )
    return telemetry, tracer_provider


def _order() -> orders_pb2.Order:
    order = orders_pb2.Order(
        id=ORDER_ID,
        customer_id="c-1",
        items=[orders_pb2.OrderItem(sku="sku-1", quantity=2, unit_price_cents=1250)],
        total_cents=2500,
        status=orders_pb2.ORDER_STATUS_CREATED,
    )
    order.created_at.FromMicroseconds(1_700_000_000_000_000)
    return order


def _upstream_channel(channel: grpc.Channel, telemetry: Telemetry) -> grpc.Channel:
    """The gateway's channel as it was before the short path: upstream's wrapper on every call."""
    tracing = client_interceptor(tracer_provider=telemetry.tracer_provider)  # type: ignore[no-untyped-call]
    traced = grpcext.intercept_channel(channel, tracing)  # type: ignore[no-untyped-call]
    return MeteredChannel(traced, RpcClientMetrics(telemetry.meter_provider))


class _InjectingUnaryUnary(WrappedUnaryUnary):
    """Sends the current context in the call's metadata with upstream's `propagate.inject`."""

    def __init__(self, plain: grpc.UnaryUnaryMultiCallable[Any, Any]) -> None:
        self._plain = plain

    def invoke(self, style: CallStyle, request: Any, options: CallOptions) -> Any:
        timeout, metadata, *rest = options
        carrier: dict[str, str] = dict(metadata) if metadata else {}
        propagate.inject(carrier)
        return call_in_style(self._plain, style)(request, timeout, tuple(carrier.items()), *rest)


class _InjectingChannel(DelegatingChannel):
    """The least a channel does to carry an unsampled trace context: inject it, nothing more."""

    def wrap_unary_unary(self, args: MethodArgs) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        return _InjectingUnaryUnary(self._channel.unary_unary(*args))  # type: ignore[call-arg]


def injecting_channel(channel: grpc.Channel, telemetry: Telemetry) -> grpc.Channel:
    """The gateway's metered channel over `_InjectingChannel` (the floor's client side)."""
    return MeteredChannel(_InjectingChannel(channel), RpcClientMetrics(telemetry.meter_provider))


def gateway_request(
    telemetry: Telemetry,
    *,
    upstream_path: bool = False,
    wrap: Callable[[grpc.Channel, Telemetry], grpc.Channel] | None = None,
) -> Callable[[], None]:
    """One `GET /orders/<id>` through the instrumented app and the instrumented client."""
    answering = AnsweringChannel(orders_pb2.GetOrderResponse(order=_order()))
    channel = cast(grpc.Channel, answering)
    if wrap is None:
        wrap = _upstream_channel if upstream_path else instrument_channel
    client = OrderClient(
        "127.0.0.1:1",  # never connected: every call goes to the answering channel
        timeout=2.0,
        wrap_channel=lambda _raw: wrap(channel, telemetry),
    )
    app = create_app(client=client, telemetry=telemetry)
    return _caller(app, f"/orders/{ORDER_ID}")


def floor_request(variant: str) -> tuple[Callable[[], None], TracerProvider]:
    """A gateway request of one of `FLOOR_VARIANTS`, and its (SDK) tracer provider.

    `tracing=False` keeps the project's gRPC tracing off; upstream's Flask
    instrumentation gets the SDK's tracer either way.
    """
    if variant == "flask_sdk_tracer":
        telemetry, _ = telemetry_for("default", "web-gateway")
        _, provider = telemetry_for("unsampled", "web-gateway")
        assert provider is not None
        return gateway_request(dataclasses.replace(telemetry, tracer_provider=provider)), provider
    telemetry, provider = telemetry_for("unsampled", "web-gateway")
    assert provider is not None and variant == "unsampled_floor"
    floor = dataclasses.replace(telemetry, tracing=False)
    return gateway_request(floor, wrap=injecting_channel), provider


class _Metadatum:
    """grpc's invocation metadata item: `key` and `value`."""

    __slots__ = ("key", "value")

    def __init__(self, key: str, value: str) -> None:
        self.key, self.value = key, value

    def __iter__(self) -> Any:
        return iter((self.key, self.value))


class _ServicerContext:
    """The little of grpc.ServicerContext the interceptors and the servicer use on the OK path."""

    def __init__(self, metadata: tuple[_Metadatum, ...]) -> None:
        self._metadata = metadata
        self._code: grpc.StatusCode | None = None

    def invocation_metadata(self) -> tuple[_Metadatum, ...]:
        return self._metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50312"

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise RuntimeError(details)


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str, metadata: tuple[_Metadatum, ...]) -> None:
        self.method = method
        self.invocation_metadata = cast(tuple[tuple[str, str]], metadata)


def _upstream_interceptors(telemetry: Telemetry) -> list[grpc.ServerInterceptor]:
    """The order-api's interceptors as they were before the short path."""
    tracing = server_interceptor(tracer_provider=telemetry.tracer_provider)  # type: ignore[no-untyped-call]
    metrics = RpcServerMetrics(telemetry.meter_provider, _METHODS)
    return [tracing, RpcServerMetricsInterceptor(metrics, [SERVICE_NAME], telemetry.access_log)]


class _ExtractingInterceptor(grpc.ServerInterceptor):
    """The least a server does to go on in its caller's trace: extract it, make it current.

    Like any interceptor it asks the rest of the chain for the handler on every call;
    what it builds around a handler is built once.
    """

    def __init__(self) -> None:
        self._handlers: dict[object, grpc.RpcMethodHandler[Any, Any]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # the floor is measured on unary calls
        wrapped = self._handlers.get(handler)
        if wrapped is None:
            behavior = handler.unary_unary

            def in_callers_context(request: Any, context: grpc.ServicerContext) -> Any:
                metadata: Any = context.invocation_metadata()
                carrier = {item.key: item.value for item in metadata}
                token = otel_context.attach(propagate.extract(carrier))
                try:
                    return behavior(request, context)
                finally:
                    otel_context.detach(token)

            wrapped = grpc.unary_unary_rpc_method_handler(
                in_callers_context,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            self._handlers[handler] = wrapped
        return wrapped


def floor_interceptors(telemetry: Telemetry) -> list[grpc.ServerInterceptor]:
    """The order-api's floor: extract and attach, then the services' metrics interceptor."""
    metrics = RpcServerMetrics(telemetry.meter_provider, _METHODS)
    return [
        _ExtractingInterceptor(),
        RpcServerMetricsInterceptor(metrics, [SERVICE_NAME], telemetry.access_log),
    ]


def rpc_call(
    telemetry: Telemetry,
    servicer: OrderServicer,
    request: orders_pb2.GetOrderRequest,
    flags: str,
    *,
    upstream_path: bool = False,
    floor: bool = False,
) -> Callable[[], object]:
    """One GetOrder through the server's interceptors, as gRPC's server calls them."""
    metadata = (
        _Metadatum("traceparent", f"00-{_TRACE_ID}-{_PARENT_ID}-{flags}"),
        _Metadatum("user-agent", "grpc-python/1.85.3 grpc-c/50.0.0 (linux; chttp2)"),
    )
    handler: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(
        servicer.GetOrder
    )
    if floor:
        interceptors = floor_interceptors(telemetry)
    elif upstream_path:
        interceptors = _upstream_interceptors(telemetry)
    else:
        interceptors = server_interceptors(telemetry, [SERVICE_NAME])
    details = _Details(f"/{SERVICE_NAME}/GetOrder", metadata)

    def resolve(index: int) -> grpc.RpcMethodHandler[Any, Any] | None:
        # gRPC's server walks its interceptors the same way for every call.
        if index == len(interceptors):
            return handler
        return interceptors[index].intercept_service(lambda _d: resolve(index + 1), details)

    def call() -> object:
        resolved = resolve(0)
        assert resolved is not None and resolved.unary_unary is not None
        return resolved.unary_unary(request, cast(grpc.ServicerContext, _ServicerContext(metadata)))

    return call


Variants = dict[str, Callable[[], object]]


def _variants(
    servicer: OrderServicer, request: orders_pb2.GetOrderRequest
) -> tuple[dict[str, Variants], dict[str, Variants], list[TracerProvider]]:
    """Each side's variants, what ends each one's round (span flushes), the tracer providers."""
    sides: dict[str, Variants] = {"gateway": {}, "rpc": {}}
    flush: dict[str, Variants] = {"gateway": {}, "rpc": {}}
    providers: list[TracerProvider] = []
    for profile, sampler in SAMPLERS.items():
        telemetry, provider = telemetry_for(profile, "web-gateway")
        upstream_path = profile == UPSTREAM_PATH
        sides["gateway"][profile] = gateway_request(telemetry, upstream_path=upstream_path)
        server_telemetry, server_provider = telemetry_for(profile, "order-api")
        # The order-api decides as the gateway did: sampled flag set with every trace.
        flags = "01" if sampler is DEFAULT_ON else "00"
        sides["rpc"][profile] = rpc_call(
            server_telemetry, servicer, request, flags, upstream_path=upstream_path
        )
        for side, tracer_provider in (("gateway", provider), ("rpc", server_provider)):
            if tracer_provider is not None:
                flush[side][profile] = tracer_provider.force_flush
                providers.append(tracer_provider)
    for variant in FLOOR_VARIANTS:
        sides["gateway"][variant], provider = floor_request(variant)
        providers.append(provider)
    server_telemetry, server_provider = telemetry_for("unsampled", "order-api")
    assert server_provider is not None
    sides["rpc"]["unsampled_floor"] = rpc_call(
        server_telemetry, servicer, request, "00", floor=True
    )
    providers.append(server_provider)
    return sides, flush, providers


def _timed(quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    """One process's figures: CPU µs per call, and over default (median of paired rounds)."""
    calls, rounds = (500, 5) if quick else (2000, 11)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    with one_order_servicer() as (servicer, request):
        sides, flush, providers = _variants(servicer, request)
        for side, variants in sides.items():
            results = per_call(
                {f"{side}/{name}": fn for name, fn in variants.items()},
                calls=calls,
                rounds=rounds,
                end_of_round={f"{side}/{name}": fn for name, fn in flush[side].items()},
            )
            figures[side] = {
                "cpu_us": {name: results[f"{side}/{name}"].median_us for name in variants},
                "over_default_us": {
                    name: paired_difference_us(results, f"{side}/{name}", f"{side}/default")
                    for name in variants
                    if name != "default"
                },
            }
        for tracer_provider in providers:
            tracer_provider.shutdown()
    return figures


def _timed_in_fresh_process(quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    """`_timed` in a new interpreter (spawned: nothing of this process's state carries over)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_timed, quick).result()


def combined(runs: Sequence[dict[str, dict[str, dict[str, float]]]]) -> dict[str, Any]:
    """The processes' figures as one: medians over processes, and the range over default."""
    figures: dict[str, Any] = {}
    for side in runs[0]:
        figures[side] = {
            key: {
                name: statistics.median(run[side][key][name] for run in runs)
                for name in runs[0][side][key]
            }
            for key in ("cpu_us", "over_default_us")
        }
        figures[side]["over_default_range_us"] = {
            name: [
                min(run[side]["over_default_us"][name] for run in runs),
                max(run[side]["over_default_us"][name] for run in runs),
            ]
            for name in runs[0][side]["over_default_us"]
        }
    figures["processes"] = len(runs)
    return figures


def run(quick: bool) -> dict[str, Any]:
    """CPU µs per gateway request and per RPC in each profile; top functions of each."""
    figures = combined([_timed_in_fresh_process(quick) for _ in range(1 if quick else PROCESSES)])
    calls = 500 if quick else 2000
    with one_order_servicer() as (servicer, request):
        sides, _, providers = _variants(servicer, request)
        for side, timed in sides.items():
            variants = {name: fn for name, fn in timed.items() if name not in FLOOR_VARIANTS}
            stats = {name: profile_of(fn, calls) for name, fn in variants.items()}
            cpu = figures[side]["cpu_us"]
            # Profiled times are inflated by the profiler's own work: scale each variant's
            # to the CPU µs measured without it.
            scale = {
                name: cpu[name] / (sum(own for _, own, _ in stats[name].values()) * 1e6)
                for name in variants
            }
            figures[side]["top_functions"] = {
                name: top_functions(stats[name], scale[name]) for name in variants
            }
            figures[side]["where_over_default_goes_us"] = {
                name: grouped_difference(
                    stats[name],
                    stats["default"],
                    scale[name],
                    figures[side]["over_default_us"][name],
                )
                for name in ("unsampled", UPSTREAM_PATH)
            }
        for tracer_provider in providers:
            tracer_provider.shutdown()
    return figures
