"""gRPC interceptors: RPC metrics on both sides, and upstream tracing when spans go somewhere.

Upstream `opentelemetry-instrumentation-grpc` emits spans only, so the
duration histograms of the RPC semantic conventions are recorded here. The
server interceptor times each call in try/finally and records its final
status code, for every streaming kind; methods the server does not implement
are not recorded (their names are chosen by clients). On the client side a
channel wrapper (`otel.grpc_client.MeteredChannel`) does the same for unary calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from opentelemetry.instrumentation.grpc import GrpcInstrumentorServer

from otel import settings
from otel.access_log import AccessLog
from otel.grpc_tracing import TracingServerInterceptor
from otel.instruments import RpcServerMetrics
from otel.sdk import Telemetry

_Behavior = Callable[..., Any]


class RpcServerMetricsInterceptor(grpc.ServerInterceptor):
    """Records `RpcServerMetrics` (and an access line) for the RPCs of the given services."""

    def __init__(
        self,
        metrics: RpcServerMetrics,
        services: Iterable[str],
        access_log: AccessLog | None = None,
    ) -> None:
        self._metrics = metrics
        self._services = frozenset(services)
        self._access_log = access_log if access_log is not None and access_log.enabled else None
        # Wrapped handlers by (method path, original handler): gRPC asks on every call.
        self._wrapped: dict[tuple[str, object], grpc.RpcMethodHandler[Any, Any]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        key = (handler_call_details.method, handler)
        wrapped = self._wrapped.get(key)
        if wrapped is None:
            wrapped = self._wrap(handler_call_details.method, handler)
            self._wrapped[key] = wrapped
        return wrapped

    def _wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        service, _, method = path.lstrip("/").partition("/")
        if service not in self._services:
            return handler
        record = self._recorder(service, method)
        for kind, make_handler, timed in _HANDLER_KINDS:
            behavior = getattr(handler, kind)
            if behavior:
                return make_handler(  # type: ignore[no-any-return]
                    timed(behavior, record),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _recorder(self, service: str, method: str) -> Callable[[grpc.ServicerContext, float], None]:
        def record(context: grpc.ServicerContext, started: float) -> None:
            code, seconds = _final_code(context), time.perf_counter() - started
            self._metrics.record(service, method, code, seconds)
            if self._access_log is not None:
                self._access_log.rpc(service, method, code, seconds)

        return record


def _code_of(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status code set on the call so far (None: not set, which ends as OK)."""
    # ServicerContext.code() exists since grpcio 1.38; the type stubs lack it.
    code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]
    return code


def _final_code(context: grpc.ServicerContext) -> str:
    code = _code_of(context)
    return "OK" if code is None else str(code.name)


def _timed_unary(
    behavior: _Behavior, record: Callable[[grpc.ServicerContext, float], None]
) -> _Behavior:
    def timed(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        try:
            return behavior(request, context)
        except Exception:
            if _code_of(context) is None:  # not an abort: gRPC will answer UNKNOWN
                context.set_code(grpc.StatusCode.UNKNOWN)
            raise
        finally:
            record(context, started)

    return timed


def _timed_stream(
    behavior: _Behavior, record: Callable[[grpc.ServicerContext, float], None]
) -> _Behavior:
    def timed(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            yield from behavior(request, context)
        except Exception:
            if _code_of(context) is None:
                context.set_code(grpc.StatusCode.UNKNOWN)
            raise
        finally:
            record(context, started)

    return timed


# Each kind of RPC explicitly: the handler attribute, its handler factory, and the timing
# wrapper (unary responses are timed around the call, streamed ones until the stream ends).
_HANDLER_KINDS: tuple[tuple[str, Callable[..., Any], Callable[..., _Behavior]], ...] = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, _timed_unary),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, _timed_stream),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, _timed_unary),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, _timed_stream),
)


def server_interceptors(
    telemetry: Telemetry, services: Sequence[str]
) -> list[grpc.ServerInterceptor]:
    """Interceptors for a server of `services`: metrics, and tracing when `telemetry` uses it."""
    if not telemetry.enabled:
        return []
    interceptors: list[grpc.ServerInterceptor] = []
    if telemetry.uses(settings.GRPC_SERVER) and not settings.already_instrumented(
        GrpcInstrumentorServer
    ):
        interceptors.append(
            TracingServerInterceptor(telemetry.tracer_provider, telemetry.grpc_excluded_services)
        )
    metrics = RpcServerMetrics(telemetry.meter_provider, _methods_of(services))
    interceptors.append(RpcServerMetricsInterceptor(metrics, services, telemetry.access_log))
    return interceptors


def _methods_of(services: Sequence[str]) -> list[str]:
    """The method names of fully-qualified protobuf services registered in the default pool."""
    pool = descriptor_pool.Default()
    return [method.name for name in services for method in pool.FindServiceByName(name).methods]
