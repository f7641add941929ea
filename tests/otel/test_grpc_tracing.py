"""gRPC tracing across a real client and server: the short path for spans certain to drop.

Both sides are built with the services' own code (`instrument_channel`,
`server_interceptors`), each with a tracer provider of its own (as the gateway
and the order-api have), over a loopback port.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from otel import grpc_client, grpc_interceptors
from otel.grpc_tracing import DropRule, TracingServerInterceptor
from services.order_api.server import SERVICE_NAME, create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store import Item, OrderStore
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from services.web_gateway.client import SERVICE_CONFIG
from tests.otel.conftest import Recorded

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
WAIT_SECONDS = 5.0
# More channels watching the server's health than it has threads.
WATCHING_CHANNELS = 3


@dataclass
class Seen:
    """What the order-api's handler saw of a call: traceparent, current span, upstream's wrapper."""

    traceparent: str | None
    span: SpanContext
    upstream_context: bool  # the servicer context came wrapped by upstream's interceptor
    metadata: dict[str, str | bytes] = field(default_factory=dict)


class ObservingServicer(OrderServicer):
    """The real servicer, noting each GetOrder's incoming traceparent and current span."""

    def __init__(self, store: OrderStore) -> None:
        super().__init__(store)
        self.seen: list[Seen] = []

    def GetOrder(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        span = trace.get_current_span().get_span_context()
        wrapped = type(context).__name__ == "_OpenTelemetryServicerContext"
        traceparent = metadata.get("traceparent")
        self.seen.append(Seen(traceparent, span, wrapped, metadata))  # type: ignore[arg-type]
        return super().GetOrder(request, context)


@dataclass
class Side:
    """One service's tracer provider and the spans it finished."""

    provider: TracerProvider
    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()


def _side(sampler: Sampler) -> Side:
    side = Side(TracerProvider(sampler=sampler))
    side.provider.add_span_processor(SimpleSpanProcessor(side.spans))
    return side


@dataclass
class Pair:
    """A traced order-api and a traced client channel to it."""

    client: Side
    server: Side
    servicer: ObservingServicer
    stub: orders_pb2_grpc.OrderServiceStub
    order_id: str
    target: str  # the server's address, for calls from an untraced client


@pytest.fixture
def pair_for(recorded: Recorded, tmp_path: Path) -> Iterator[Any]:
    """pair_for(client_sampler, server_sampler, excluded=…) -> Pair, stopped at teardown.

    `excluded`: both sides' OTEL_PYTHON_GRPC_EXCLUDED_SERVICES, parsed.
    """
    stops: list[Any] = []

    def start(
        client_sampler: Sampler, server_sampler: Sampler, excluded: frozenset[str] = frozenset()
    ) -> Pair:
        store = SqliteOrderStore(tmp_path / f"orders-{len(stops)}.db")
        order, _ = store.create("c-1", (Item("sku-1", 1, 100),))
        servicer = ObservingServicer(store)
        client, server_side = _side(client_sampler), _side(server_sampler)
        server_telemetry = dataclasses.replace(
            recorded.telemetry,
            tracer_provider=server_side.provider,
            tracing=True,
            grpc_excluded_services=excluded,
        )
        server, port = create_server(
            "127.0.0.1:0",
            servicer=servicer,
            interceptors=grpc_interceptors.server_interceptors(server_telemetry, [SERVICE_NAME]),
        )
        server.start()
        client_telemetry = dataclasses.replace(
            recorded.telemetry,
            tracer_provider=client.provider,
            tracing=True,
            grpc_excluded_services=excluded,
        )
        channel = grpc_client.instrument_channel(
            grpc.insecure_channel(f"127.0.0.1:{port}"), client_telemetry
        )

        def stop() -> None:
            channel.close()
            server.stop(None).wait()
            store.close()

        stops.append(stop)
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        return Pair(client, server_side, servicer, stub, order.id, f"127.0.0.1:{port}")

    yield start
    for stop in stops:
        stop()


@contextlib.contextmanager
def _inside(span_context: SpanContext) -> Iterator[None]:
    """A span with this context current, as the Flask instrumentation makes one per request."""
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
    try:
        yield
    finally:
        otel_context.detach(token)


def _get_order(pair: Pair) -> None:
    pair.stub.GetOrder(orders_pb2.GetOrderRequest(id=pair.order_id), timeout=WAIT_SECONDS)


def _parse(traceparent: str | None) -> tuple[int, int, bool]:
    """Trace id, parent id and the sampled flag of a W3C traceparent (version 00)."""
    assert traceparent is not None
    version, trace_id, parent_id, flags = traceparent.split("-")
    assert version == "00"
    return int(trace_id, 16), int(parent_id, 16), bool(int(flags, 16) & TraceFlags.SAMPLED)


UNSAMPLED_PARENT = SpanContext(TRACE_ID, PARENT_ID, is_remote=False, trace_flags=TraceFlags(0))
SAMPLED_PARENT = SpanContext(
    TRACE_ID, PARENT_ID, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
)


def test_an_unsampled_call_propagates_traceparent_with_the_sampled_flag_unset(
    pair_for: Any,
) -> None:
    pair = pair_for(ParentBasedTraceIdRatio(0.1), ParentBasedTraceIdRatio(0.1))
    with _inside(UNSAMPLED_PARENT):
        _get_order(pair)

    (seen,) = pair.servicer.seen
    # No span of either side's own: the parent's context travels and is current, as it came.
    assert _parse(seen.traceparent) == (TRACE_ID, PARENT_ID, False)
    assert seen.span.is_valid and seen.span.trace_id == TRACE_ID
    assert not seen.span.trace_flags.sampled
    assert (seen.span.span_id, seen.span.is_remote) == (PARENT_ID, True)
    assert not seen.upstream_context  # the short path: none of upstream's per-call work
    assert pair.client.finished() == () and pair.server.finished() == ()


def test_a_sampled_caller_whose_span_this_server_drops_gets_an_unsampled_span_of_its_own(
    pair_for: Any,
) -> None:
    pair = pair_for(DEFAULT_ON, ALWAYS_OFF)
    with _inside(SAMPLED_PARENT):
        _get_order(pair)

    (seen,) = pair.servicer.seen
    trace_id, client_span_id, sampled = _parse(seen.traceparent)
    assert (trace_id, sampled) == (TRACE_ID, True)
    # The SDK's span: same trace, a span id of its own, the sampled flag unset.
    assert seen.span.trace_id == TRACE_ID and not seen.span.trace_flags.sampled
    assert seen.span.span_id not in {client_span_id, PARENT_ID} and not seen.span.is_remote
    assert not seen.upstream_context
    assert len(pair.client.finished()) == 1 and pair.server.finished() == ()


@pytest.mark.parametrize("style", ["__call__", "with_call", "future"])
def test_every_call_style_takes_the_short_path_and_keeps_the_callers_metadata(
    pair_for: Any, style: str
) -> None:
    pair = pair_for(ParentBasedTraceIdRatio(0.1), ParentBasedTraceIdRatio(0.1))
    get = pair.stub.GetOrder
    request = orders_pb2.GetOrderRequest(id=pair.order_id)
    with _inside(UNSAMPLED_PARENT):
        if style == "__call__":
            response = get(request, timeout=WAIT_SECONDS, metadata=(("x-note", "kept"),))
        elif style == "with_call":
            response, call = get.with_call(
                request, timeout=WAIT_SECONDS, metadata=(("x-note", "kept"),)
            )
            assert call.code() == grpc.StatusCode.OK
        else:
            response = get.future(
                request, timeout=WAIT_SECONDS, metadata=(("x-note", "kept"),)
            ).result(timeout=WAIT_SECONDS)

    assert response.order.id == pair.order_id
    (seen,) = pair.servicer.seen
    trace_id, _, sampled = _parse(seen.traceparent)
    assert (trace_id, sampled) == (TRACE_ID, False)
    assert seen.metadata["x-note"] == "kept"
    assert not seen.upstream_context
    assert pair.client.finished() == () and pair.server.finished() == ()


def test_the_always_off_sampler_still_starts_a_trace_and_propagates_it(pair_for: Any) -> None:
    pair = pair_for(ALWAYS_OFF, ALWAYS_OFF)
    _get_order(pair)

    (seen,) = pair.servicer.seen
    trace_id, client_span_id, sampled = _parse(seen.traceparent)
    assert trace_id != 0 and not sampled
    assert seen.span.is_valid and seen.span.trace_id == trace_id
    assert seen.span.span_id == client_span_id  # the caller's unsampled context
    assert pair.client.finished() == () and pair.server.finished() == ()


def test_a_sampled_parent_whose_span_the_client_drops_sends_an_unsampled_span_of_its_own(
    pair_for: Any,
) -> None:
    pair = pair_for(ALWAYS_OFF, DEFAULT_ON)
    with _inside(SAMPLED_PARENT):
        _get_order(pair)

    (seen,) = pair.servicer.seen
    trace_id, client_span_id, sampled = _parse(seen.traceparent)
    assert (trace_id, sampled) == (TRACE_ID, False)
    assert client_span_id not in {0, PARENT_ID}  # the SDK's span: the sampled flag unset
    assert (seen.span.span_id, seen.span.is_remote) == (client_span_id, True)
    assert pair.client.finished() == () and pair.server.finished() == ()


def test_a_call_without_a_trace_gets_a_new_one_from_the_servers_sdk(pair_for: Any) -> None:
    pair = pair_for(ALWAYS_OFF, ALWAYS_OFF)
    with grpc.insecure_channel(pair.target) as channel:
        orders_pb2_grpc.OrderServiceStub(channel).GetOrder(
            orders_pb2.GetOrderRequest(id=pair.order_id), timeout=WAIT_SECONDS
        )

    (seen,) = pair.servicer.seen
    assert seen.traceparent is None
    assert seen.span.is_valid and not seen.span.is_remote and not seen.span.trace_flags.sampled
    assert pair.server.finished() == ()


def test_a_sampled_call_gets_upstream_spans_joined_across_both_sides(pair_for: Any) -> None:
    pair = pair_for(DEFAULT_ON, DEFAULT_ON)
    with _inside(SAMPLED_PARENT):
        _get_order(pair)

    (client_span,) = pair.client.finished()
    (server_span,) = pair.server.finished()
    name = f"/{SERVICE_NAME}/GetOrder"
    assert (client_span.name, client_span.kind) == (name, SpanKind.CLIENT)
    assert (server_span.name, server_span.kind) == (name, SpanKind.SERVER)
    assert client_span.parent is not None and client_span.parent.span_id == PARENT_ID
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.context.trace_id == TRACE_ID
    # Upstream's attributes, e.g. the peer it parses (skipped on the short path only).
    assert server_span.attributes is not None
    assert server_span.attributes["rpc.method"] == "GetOrder"
    assert server_span.attributes["net.peer.ip"] == "127.0.0.1"
    (seen,) = pair.servicer.seen
    assert _parse(seen.traceparent) == (TRACE_ID, client_span.context.span_id, True)
    assert seen.upstream_context


def test_a_root_call_is_left_to_the_sampler(pair_for: Any) -> None:
    pair = pair_for(DEFAULT_ON, DEFAULT_ON)
    _get_order(pair)

    assert len(pair.client.finished()) == 1 and len(pair.server.finished()) == 1


@pytest.mark.parametrize(
    ("sampler", "drops_all", "drops_unsampled_children"),
    [
        pytest.param(ALWAYS_OFF, True, True, id="always_off"),
        pytest.param(DEFAULT_ON, False, True, id="parentbased_always_on"),
        pytest.param(ParentBasedTraceIdRatio(0.1), False, True, id="parentbased_traceidratio"),
        pytest.param(ALWAYS_ON, False, False, id="always_on"),
        pytest.param(TraceIdRatioBased(0.1), False, False, id="traceidratio"),
        pytest.param(
            ParentBased(ALWAYS_ON, local_parent_not_sampled=ALWAYS_ON),
            False,
            False,
            id="parentbased_recording_unsampled_local_parents",
        ),
    ],
)
def test_only_samplers_known_to_drop_take_the_short_path(
    sampler: Sampler, drops_all: bool, drops_unsampled_children: bool
) -> None:
    rule = DropRule(TracerProvider(sampler=sampler))
    assert (rule.drops_all, rule.drops_unsampled_children) == (drops_all, drops_unsampled_children)
    assert rule.drops_child_of(UNSAMPLED_PARENT) == drops_unsampled_children
    assert not rule.drops_child_of(SAMPLED_PARENT) or drops_all


def test_a_sampler_subclass_is_never_assumed_to_drop() -> None:
    class Custom(ParentBased):
        pass

    assert not DropRule(TracerProvider(sampler=Custom(ALWAYS_ON))).drops_unsampled_children


def test_an_unsampled_call_through_a_recording_sampler_is_traced_by_upstream(
    pair_for: Any,
) -> None:
    pair = pair_for(ALWAYS_ON, ALWAYS_ON)
    with _inside(UNSAMPLED_PARENT):
        _get_order(pair)

    assert len(pair.client.finished()) == 1 and len(pair.server.finished()) == 1


def test_each_call_decides_its_path_from_its_own_metadata(pair_for: Any) -> None:
    pair = pair_for(DEFAULT_ON, DEFAULT_ON)
    for parent in (UNSAMPLED_PARENT, SAMPLED_PARENT, UNSAMPLED_PARENT, SAMPLED_PARENT):
        with _inside(parent):
            _get_order(pair)

    paths = [seen.upstream_context for seen in pair.servicer.seen]
    assert paths == [False, True, False, True]
    assert len(pair.client.finished()) == 2 and len(pair.server.finished()) == 2


def test_the_server_builds_one_handler_per_method_not_per_call() -> None:
    interceptor = TracingServerInterceptor(TracerProvider(sampler=DEFAULT_ON))
    details = _CallDetails(f"/{SERVICE_NAME}/GetOrder")
    first: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(_echo)
    replaced: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(_echo)

    handlers = [interceptor.intercept_service(lambda _d: first, details) for _ in range(3)]
    assert handlers[0] is handlers[1] is handlers[2] is not first
    # A servicer handing out a new handler replaces the method's entry: one per method.
    assert interceptor.intercept_service(lambda _d: replaced, details) is not handlers[0]
    assert interceptor.intercept_service(lambda _d: None, details) is None


def _echo(request: Any, _context: grpc.ServicerContext) -> Any:
    return request


@dataclass
class _CallDetails(grpc.HandlerCallDetails):
    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


@pytest.mark.parametrize("sampler", [DEFAULT_ON, ALWAYS_ON], ids=["parentbased", "always_on"])
def test_health_watches_are_not_traced_and_hold_no_server_thread(
    recorded: Recorded, tmp_path: Path, sampler: Sampler
) -> None:
    server_side = _side(sampler)
    telemetry = dataclasses.replace(
        recorded.telemetry, tracer_provider=server_side.provider, tracing=True
    )
    store = SqliteOrderStore(tmp_path / "orders.db")
    server, port = create_server(
        "127.0.0.1:0",
        servicer=OrderServicer(store),
        interceptors=grpc_interceptors.server_interceptors(telemetry, [SERVICE_NAME]),
        max_workers=WATCHING_CHANNELS - 1,
    )
    server.start()
    # Each channel its own connection, each watching the server's health (as the gateway's).
    options = [("grpc.service_config", SERVICE_CONFIG), ("grpc.use_local_subchannel_pool", 1)]
    channels = [
        grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        for _ in range(WATCHING_CHANNELS)
    ]
    try:
        # A channel is ready once its watch answered; a watch holding a thread would leave
        # the last channels' calls waiting for one until their deadline.
        for channel in channels:
            orders_pb2_grpc.OrderServiceStub(channel).ListOrders(
                orders_pb2.ListOrdersRequest(page_size=1), timeout=WAIT_SECONDS
            )
    finally:
        for channel in channels:
            channel.close()
        server.stop(None).wait()  # ends every stream: a traced watch's span would end here
        store.close()

    names = [span.name for span in server_side.finished()]
    assert names == [f"/{SERVICE_NAME}/ListOrders"] * WATCHING_CHANNELS


@pytest.mark.parametrize("sampler", [DEFAULT_ON, ALWAYS_ON], ids=["parentbased", "always_on"])
@pytest.mark.parametrize("parent", [SAMPLED_PARENT, UNSAMPLED_PARENT], ids=["sampled", "unsampled"])
def test_an_excluded_service_gets_no_span_and_no_traceparent_on_either_side(
    pair_for: Any, sampler: Sampler, parent: SpanContext
) -> None:
    pair = pair_for(sampler, sampler, excluded=frozenset({"other.Service", SERVICE_NAME}))
    with _inside(parent):
        _get_order(pair)

    (seen,) = pair.servicer.seen
    assert seen.traceparent is None and not seen.span.is_valid
    assert pair.client.finished() == () and pair.server.finished() == ()


def test_excluding_another_service_leaves_the_calls_traced(pair_for: Any) -> None:
    pair = pair_for(DEFAULT_ON, DEFAULT_ON, excluded=frozenset({"grpc.health.v1.Health"}))
    with _inside(SAMPLED_PARENT):
        _get_order(pair)

    assert len(pair.client.finished()) == 1 and len(pair.server.finished()) == 1
