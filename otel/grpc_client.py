"""The gateway's metered gRPC channel: `rpc_client_call_duration_seconds` for every unary call.

`MeteredChannel` wraps a channel and times each unary-unary call around the
wrapped multicallable, in the calling thread, instead of going through
`grpc.intercept_channel`, which for every call builds the wrapped channel's
multicallable again, calls it through `with_call` and records from a done
callback: more of the gateway's CPU per call for the same histogram (bench
suite 2 measures both). Only unary-unary methods are metered (the gateway has no
streaming calls); unary-stream and stream-* multicallables pass through unwrapped.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient

from otel import settings
from otel.grpc_channel import (
    CallOptions,
    CallStyle,
    DelegatingChannel,
    MethodArgs,
    WrappedUnaryUnary,
    call_in_style,
)
from otel.grpc_tracing import traced_channel
from otel.instruments import RpcClientMetrics
from otel.sdk import Telemetry


class MeteredChannel(DelegatingChannel):
    """A channel whose unary-unary calls record `RpcClientMetrics`; all else is delegated.

    Wrap it outermost (around any tracing wrapper) so the duration covers what
    the caller waits for.
    """

    def __init__(self, channel: grpc.Channel, metrics: RpcClientMetrics) -> None:
        super().__init__(channel)
        self._metrics = metrics

    def wrap_unary_unary(self, args: MethodArgs) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        """The wrapped channel's multicallable, metered."""
        inner = self._channel.unary_unary(*args)  # type: ignore[call-arg]
        return MeteredUnaryUnary(inner, _method_name(args[0]), self._metrics)


class MeteredUnaryUnary(WrappedUnaryUnary):
    """A unary-unary multicallable that records each call once, with its final status code.

    OK, or a failed call's RpcError code; UNKNOWN for a failure that carries no
    status (an exception raised below gRPC, such as a wrapper's own error). A
    `future` is recorded when it ends.
    """

    def __init__(
        self,
        inner: grpc.UnaryUnaryMultiCallable[Any, Any],
        full_method: str,
        metrics: RpcClientMetrics,
    ) -> None:
        self._inner = inner
        self._method = full_method
        self._record = metrics.record

    def invoke(self, style: CallStyle, request: Any, options: CallOptions) -> Any:
        """Make the call, recording it when it returns, raises or (a future) ends."""
        started = time.perf_counter()
        try:
            result = call_in_style(self._inner, style)(request, *options)
        except Exception as error:
            self._record(self._method, _code_of_error(error), time.perf_counter() - started)
            raise
        if style != "future":
            self._record(self._method, "OK", time.perf_counter() - started)
            return result

        def done(finished: Any) -> None:
            # Runs in gRPC's thread when the call ends (at once if it already has).
            code = finished.code()
            name = "UNKNOWN" if code is None else code.name
            self._record(self._method, name, time.perf_counter() - started)

        result.add_done_callback(done)
        return result


def _code_of_error(error: Exception) -> str:
    """The status code name of a failed call: the RpcError's code, else UNKNOWN."""
    code = (
        error.code() if isinstance(error, grpc.RpcError) and isinstance(error, grpc.Call) else None
    )
    return "UNKNOWN" if code is None else str(code.name)


def _method_name(method: str | bytes) -> str:
    text = method.decode() if isinstance(method, bytes) else method
    return text.lstrip("/")


def instrument_channel(channel: grpc.Channel, telemetry: Telemetry) -> grpc.Channel:
    """Wrap a client channel: metrics, and tracing when `telemetry` uses it.

    The upstream tracing interceptor has its own channel wrapper (it is not a
    `grpc.UnaryUnaryClientInterceptor`), used through `otel.grpc_tracing` (which
    skips it for calls whose span is certain to be dropped); the metered channel
    goes around it, so the recorded duration includes tracing.
    """
    if not telemetry.enabled:
        return channel
    if telemetry.uses(settings.GRPC_CLIENT) and not settings.already_instrumented(
        GrpcInstrumentorClient
    ):
        channel = traced_channel(
            channel, telemetry.tracer_provider, telemetry.grpc_excluded_services
        )
    return MeteredChannel(channel, RpcClientMetrics(telemetry.meter_provider))
