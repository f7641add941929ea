"""gRPC tracing: upstream's instrumentation for spans that may be recorded, a short path otherwise.

`opentelemetry-instrumentation-grpc` does the same work for every call, whether
its span will be recorded or not: span attributes, the peer address parsed,
metadata copied into ordered dicts, the servicer context wrapped, a method
handler and closures built per call. For a call whose span the sampler is
certain to drop, that work is read by nobody. Both wrappers here hand every
other call to upstream's interceptor, unchanged, and take a short path for
those calls only. A call under an unsampled parent starts no span of its own
on either side: the client injects the current context (the gateway's request
span, which upstream's Flask instrumentation started) into the outgoing
metadata, so the order-api receives a W3C `traceparent` with the trace id and
the sampled flag unset, as with upstream; the server makes the caller's context
(trace id, unsampled flag, trace state, baggage) current as it came, so its log
and access lines carry the trace id and the gateway request's span id. The SDK
would only have added span ids that no backend ever receives, at about a third
of the short path's cost per RPC (an interleaved A/B in process). A call with no parent, or with a
sampled one that this side's sampler drops, still gets its span from the SDK
tracer, under upstream's scope (a new trace id; the unsampled flag).

"Certain to drop" is decided from the sampler's kind, never by asking it for a
decision: the `always_off` sampler drops every span; a parent-based sampler with
the SDK's default delegates (every `parentbased_*` of OTEL_TRACES_SAMPLER)
drops the child of a valid parent whose sampled flag is unset. Any other
sampler (a custom one, a bare ratio) sends every call through upstream.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import (
    client_interceptor,
    filters,
    grpcext,
    server_interceptor,
)
from opentelemetry.instrumentation.grpc.version import __version__ as grpc_instrumentation_version
from opentelemetry.propagators.textmap import Setter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
)
from opentelemetry.trace import SpanContext, SpanKind, TracerProvider

from otel import grpc_channel

# Upstream's instrumentation scope: the short path's spans are its spans (a tracer
# configuration by scope applies to both paths alike).
_SCOPE = "opentelemetry.instrumentation.grpc"
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.11.0"
# A client's health watch (client-side health checking: the gateway keeps one open per
# connection) is not traced: upstream's wrapper would turn the health servicer's non-blocking
# Watch into a generator holding a server thread, and a span, for the connection's lifetime.
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
# What SDK's parent-based samplers say of their delegates when these are the defaults
# for an unsampled parent (get_description is the samplers' public description).
_DROPS_UNSAMPLED_PARENTS = (
    "remoteParentNotSampled:AlwaysOffSampler",
    "localParentNotSampled:AlwaysOffSampler",
)


class DropRule:
    """Which spans a tracer provider's sampler is certain to drop, known from its kind alone."""

    def __init__(self, tracer_provider: TracerProvider) -> None:
        sampler: Sampler | None = getattr(tracer_provider, "sampler", None)
        self.drops_all = sampler is ALWAYS_OFF
        self.drops_unsampled_children = self.drops_all or (
            type(sampler) in _PARENT_BASED
            and sampler is not None
            and all(part in sampler.get_description() for part in _DROPS_UNSAMPLED_PARENTS)
        )

    def drops_child_of(self, parent: SpanContext) -> bool:
        """Whether a span whose parent is `parent` (invalid: none) is certain to be dropped."""
        if self.drops_all:
            return True
        return self.drops_unsampled_children and parent.is_valid and not parent.trace_flags.sampled


# Exactly these types: a subclass may decide otherwise than its description says.
_PARENT_BASED: tuple[type[Sampler], ...] = (ParentBased, ParentBasedTraceIdRatio)


class _LowerCaseSetter(Setter[MutableMapping[str, str]]):
    """gRPC metadata keys are lower case (upstream's client interceptor sets them so too)."""

    def set(self, carrier: MutableMapping[str, str], key: str, value: str) -> None:
        carrier[key.lower()] = value


_SETTER = _LowerCaseSetter()


# ---- client ---------------------------------------------------------------------------------


def traced_channel(
    channel: grpc.Channel,
    tracer_provider: TracerProvider,
    excluded_services: frozenset[str] = frozenset(),
) -> grpc.Channel:
    """`channel` with upstream's client tracing, and the short path for spans certain to drop.

    Calls to `excluded_services` (full names) are left untraced, as upstream's filter leaves them.
    """
    traced = grpcext.intercept_channel(  # type: ignore[no-untyped-call]
        channel,
        client_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=tracer_provider, filter_=_keeping(excluded_services)
        ),
    )
    rule = DropRule(tracer_provider)
    if not rule.drops_unsampled_children:
        return traced  # type: ignore[no-any-return]
    return _ShortPathChannel(channel, traced, _tracer(tracer_provider), rule, excluded_services)


class _ShortPathChannel(grpc_channel.DelegatingChannel):
    """Unary-unary calls choose per call between upstream's traced path and the short one.

    Streaming calls always take upstream's path.
    """

    def __init__(
        self,
        plain: grpc.Channel,
        traced: grpc.Channel,
        tracer: trace.Tracer,
        rule: DropRule,
        excluded_services: frozenset[str],
    ) -> None:
        super().__init__(plain, streams=traced)
        self._plain = plain
        self._traced = traced
        self._tracer = tracer
        self._rule = rule
        self._excluded = excluded_services

    def wrap_unary_unary(
        self, args: grpc_channel.MethodArgs
    ) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        """Both paths' multicallables for the method; each call takes one (none if excluded)."""
        method = args[0]
        name = method.decode() if isinstance(method, bytes) else method
        if _service_of(name) in self._excluded:
            return self._plain.unary_unary(*args)  # type: ignore[call-arg]
        return _ShortPathUnaryUnary(
            self._plain.unary_unary(*args),  # type: ignore[call-arg]
            self._traced.unary_unary(*args),  # type: ignore[call-arg]
            name,
            self._tracer,
            self._rule,
        )


class _ShortPathUnaryUnary(grpc_channel.WrappedUnaryUnary):
    """A unary-unary multicallable: upstream's tracing, or the short path for a dropped span."""

    def __init__(
        self,
        plain: grpc.UnaryUnaryMultiCallable[Any, Any],
        traced: grpc.UnaryUnaryMultiCallable[Any, Any],
        method: str,
        tracer: trace.Tracer,
        rule: DropRule,
    ) -> None:
        self._plain = plain
        self._traced = traced
        self._method = method
        self._tracer = tracer
        self._rule = rule

    def invoke(
        self, style: grpc_channel.CallStyle, request: Any, options: grpc_channel.CallOptions
    ) -> Any:
        """Upstream's traced call, or the plain one carrying the dropped span's context."""
        parent = trace.get_current_span().get_span_context()
        if not self._rule.drops_child_of(parent):
            return grpc_channel.call_in_style(self._traced, style)(request, *options)
        timeout, metadata, *rest = options
        sent = None  # the current context: the caller's unsampled span goes on as it is
        if not parent.is_valid or parent.trace_flags.sampled:
            # Upstream's span for this call (same name, kind and parent, so the sampler
            # decides and the ids are made as there): a new trace, or the unsampled flag.
            span = self._tracer.start_span(self._method, kind=SpanKind.CLIENT)
            sent = trace.set_span_in_context(span)
        carrier: dict[str, str] = dict(metadata) if metadata else {}
        propagate.inject(carrier, context=sent, setter=_SETTER)
        return grpc_channel.call_in_style(self._plain, style)(
            request, timeout, tuple(carrier.items()), *rest
        )


# ---- server ---------------------------------------------------------------------------------


class TracingServerInterceptor(grpc.ServerInterceptor):
    """Upstream's server interceptor, but a call whose span is certain to drop takes the short path.

    The short path (unary-unary calls only) extracts the caller's context from the
    call's metadata and makes it current while the handler runs (the caller's
    unsampled context as it came; otherwise a span the SDK starts, as upstream
    does); it skips what upstream adds for a recorded span only. Which path a call
    takes is decided in the handler, from the call's own metadata, so one handler
    per method serves every call (gRPC asks the interceptors for it on every call;
    upstream builds a new one each time).
    Health watches (`HEALTH_WATCH`) and calls to `excluded_services` (full names,
    OTEL_PYTHON_GRPC_EXCLUDED_SERVICES) pass untraced, whatever the sampler.
    """

    def __init__(
        self, tracer_provider: TracerProvider, excluded_services: frozenset[str] = frozenset()
    ) -> None:
        self._upstream: grpc.ServerInterceptor = server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=tracer_provider
        )
        self._excluded = excluded_services
        self._tracer = _tracer(tracer_provider)
        self._rule = DropRule(tracer_provider)
        # By method path: the servicer's handler and the one built around it. Only methods
        # the server implements get here, so the cache is bounded by the service definition.
        self._handlers: dict[str, tuple[object, grpc.RpcMethodHandler[Any, Any]]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if method == HEALTH_WATCH or (self._excluded and _service_of(method) in self._excluded):
            return continuation(handler_call_details)
        if not self._rule.drops_unsampled_children:
            return self._upstream.intercept_service(continuation, handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return self._upstream.intercept_service(lambda _details: handler, handler_call_details)
        cached = self._handlers.get(method)
        if cached is None or cached[0] is not handler:
            cached = (handler, self._choosing(handler_call_details, handler))
            self._handlers[method] = cached
        return cached[1]

    def _choosing(
        self, details: grpc.HandlerCallDetails, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """`handler` behind upstream's tracing, or under a span certain to drop: per call.

        Upstream's handler reads only the method of `details`, the same for every call
        of this method, so one serves them all.
        """
        upstream = self._upstream.intercept_service(lambda _details: handler, details)
        behavior, traced = handler.unary_unary, upstream.unary_unary if upstream else None
        assert behavior is not None and traced is not None
        method, tracer, rule = details.method, self._tracer, self._rule

        def choosing(request: Any, context: grpc.ServicerContext) -> Any:
            parent_context = _extract(context.invocation_metadata())
            parent = trace.get_current_span(parent_context).get_span_context()
            if not rule.drops_child_of(parent):
                return traced(request, context)
            current = parent_context
            if not parent.is_valid or parent.trace_flags.sampled:
                # No caller's trace to go on in, or one this sampler drops anyway:
                # the SDK starts the call's span (a new trace, or the unsampled flag).
                span = tracer.start_span(method, context=parent_context, kind=SpanKind.SERVER)
                current = trace.set_span_in_context(span, parent_context)
            token = otel_context.attach(current)
            try:
                return behavior(request, context)
            finally:
                otel_context.detach(token)

        return grpc.unary_unary_rpc_method_handler(
            choosing,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _service_of(method: str) -> str:
    """The full service name of a method path (`/orders.v1.OrderService/GetOrder`)."""
    return method.lstrip("/").partition("/")[0]


def _keeping(excluded_services: frozenset[str]) -> Callable[[Any], bool] | None:
    """Upstream's filter that traces every service but `excluded_services` (None: all)."""
    if not excluded_services:
        return None
    return filters.negate(
        filters.any_of(*(filters.service_name(name) for name in sorted(excluded_services)))
    )


def _tracer(tracer_provider: TracerProvider) -> trace.Tracer:
    """The tracer upstream's interceptors get: same scope name, version and schema."""
    return tracer_provider.get_tracer(_SCOPE, grpc_instrumentation_version, schema_url=_SCHEMA_URL)


def _extract(metadata: Any) -> otel_context.Context:
    """The caller's context from a call's invocation metadata, as upstream extracts it."""
    return propagate.extract({item.key: item.value for item in metadata or ()})
