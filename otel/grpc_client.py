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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient

from otel import settings
from otel.grpc_channel import DelegatingChannel, Deserializer, Serializer
from otel.grpc_tracing import traced_channel
from otel.instruments import RpcClientMetrics
from otel.sdk import Telemetry

if TYPE_CHECKING:
    _UnaryUnaryMultiCallable = grpc.UnaryUnaryMultiCallable[Any, Any]
else:  # not generic at run time
    _UnaryUnaryMultiCallable = grpc.UnaryUnaryMultiCallable


class MeteredChannel(DelegatingChannel):
    """A channel whose unary-unary calls record `RpcClientMetrics`; all else is delegated.

    Wrap it outermost (around any tracing wrapper) so the duration covers what
    the caller waits for.
    """

    def __init__(self, channel: grpc.Channel, metrics: RpcClientMetrics) -> None:
        super().__init__(channel)
        self._metrics = metrics

    def unary_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool = False,
    ) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        """The wrapped channel's multicallable, metered."""
        # Generated stubs pass _registered_method (grpcio ≥ 1.63); the type stubs lack it.
        inner = self._channel.unary_unary(
            method,
            request_serializer,
            response_deserializer,
            _registered_method,  # type: ignore[call-arg]
        )
        return MeteredUnaryUnary(inner, _method_name(method), self._metrics)


class MeteredUnaryUnary(_UnaryUnaryMultiCallable):
    """A unary-unary multicallable that records each call once, with its final status code.

    OK, or a failed call's RpcError code; UNKNOWN for a failure that carries no
    status (an exception raised below gRPC, such as a wrapper's own error).
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

    def __call__(  # noqa: PLR0917 - grpc's own signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        """Call and wait for the response, recording the call."""
        return self._timed(
            self._inner, request, timeout, metadata, credentials, wait_for_ready, compression
        )

    def with_call(  # noqa: PLR0917 - grpc's own signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> tuple[Any, grpc.Call]:
        """Call and wait for the response and the call, recording the call."""
        outcome: tuple[Any, grpc.Call] = self._timed(
            self._inner.with_call,
            request,
            timeout,
            metadata,
            credentials,
            wait_for_ready,
            compression,
        )
        return outcome

    def future(  # noqa: PLR0917 - grpc's own signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        """Start the call; it is recorded when it ends."""
        started = time.perf_counter()
        try:
            call = self._inner.future(
                request, timeout, metadata, credentials, wait_for_ready, compression
            )
        except Exception as error:
            self._record(self._method, _code_of_error(error), time.perf_counter() - started)
            raise

        def done(finished: Any) -> None:
            # Runs in gRPC's thread when the call ends (at once if it already has).
            code = finished.code()
            name = "UNKNOWN" if code is None else code.name
            self._record(self._method, name, time.perf_counter() - started)

        call.add_done_callback(done)
        return call

    def _timed(self, invoke: Callable[..., Any], *args: Any) -> Any:
        """`invoke(*args)`, recorded with OK or the error's code once it returns or raises."""
        started = time.perf_counter()
        try:
            result = invoke(*args)
        except Exception as error:
            self._record(self._method, _code_of_error(error), time.perf_counter() - started)
            raise
        self._record(self._method, "OK", time.perf_counter() - started)
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
        channel = traced_channel(channel, telemetry.tracer_provider)
    return MeteredChannel(channel, RpcClientMetrics(telemetry.meter_provider))
