"""Channel wrappers' common part: the base of the gateway's metered and tracing channels.

`MeteredChannel` (metrics) and the tracing short path's channel each change only
how a unary-unary call is made; connectivity, closing and streaming methods go to
the channels they wrap, and grpc's signatures of a unary-unary multicallable's
three call styles are written once here (`WrappedUnaryUnary`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import grpc

Serializer = Any  # Callable[[request], bytes] | None, as grpc takes it
Deserializer = Any  # Callable[[bytes], response] | None
# What grpc's Channel.unary_unary takes: method, serializers and _registered_method (grpcio
# >= 1.63's generated stubs pass it; the type stubs lack it).
MethodArgs = tuple[str, Serializer, Deserializer, bool]
# A unary-unary call's options after the request: timeout, metadata, credentials,
# wait_for_ready, compression (grpc's order).
CallOptions = tuple[float | None, Any, grpc.CallCredentials | None, bool | None, Any]
CallStyle = Literal["__call__", "with_call", "future"]
MulticallableKind = Literal["unary_unary", "unary_stream", "stream_unary", "stream_stream"]

if TYPE_CHECKING:
    _UnaryUnaryMultiCallable = grpc.UnaryUnaryMultiCallable[Any, Any]
else:  # not generic at run time
    _UnaryUnaryMultiCallable = grpc.UnaryUnaryMultiCallable


def _channel_method(kind: MulticallableKind) -> Callable[..., Any]:
    """A channel method with grpc's signature that hands its arguments to `multicallable`."""

    def method(
        self: DelegatingChannel,
        name: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool = False,
    ) -> Any:
        args = (name, request_serializer, response_deserializer, _registered_method)
        return self.multicallable(kind, args)

    method.__name__ = method.__qualname__ = kind
    return method


class DelegatingChannel(grpc.Channel):
    """Connectivity and closing go to `channel`, streaming multicallables to `streams`."""

    def __init__(self, channel: grpc.Channel, streams: grpc.Channel | None = None) -> None:
        self._channel = channel
        self._streams = channel if streams is None else streams

    unary_unary = _channel_method("unary_unary")
    unary_stream = _channel_method("unary_stream")
    stream_unary = _channel_method("stream_unary")
    stream_stream = _channel_method("stream_stream")

    def multicallable(self, kind: MulticallableKind, args: MethodArgs) -> Any:
        """A unary-unary call's from `wrap_unary_unary`, a streaming one from `streams` as is."""
        if kind == "unary_unary":
            return self.wrap_unary_unary(args)
        return getattr(self._streams, kind)(*args)

    def wrap_unary_unary(self, args: MethodArgs) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        """The wrapped channel's multicallable (subclasses change this one)."""
        return self._channel.unary_unary(*args)  # type: ignore[call-arg]

    def subscribe(
        self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False
    ) -> None:
        """Watch the wrapped channel's connectivity."""
        self._channel.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        """Stop watching it."""
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        """Close the wrapped channel."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.close()


def _call_style(style: CallStyle) -> Callable[..., Any]:
    """A multicallable method with grpc's signature that hands the call to `invoke`."""

    def call(  # noqa: PLR0917 - grpc's own signature
        self: WrappedUnaryUnary,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        options = (timeout, metadata, credentials, wait_for_ready, compression)
        return self.invoke(style, request, options)

    call.__name__ = call.__qualname__ = style
    return call


class WrappedUnaryUnary(_UnaryUnaryMultiCallable):
    """A unary-unary multicallable whose three call styles all go to `invoke`."""

    __call__ = _call_style("__call__")  # call and wait for the response
    with_call = _call_style("with_call")  # ... and the call
    future = _call_style("future")  # start the call

    def invoke(self, style: CallStyle, request: Any, options: CallOptions) -> Any:
        """Make the call in `style` (a multicallable's method name); subclasses say how."""
        raise NotImplementedError


def call_in_style(
    multicallable: grpc.UnaryUnaryMultiCallable[Any, Any], style: CallStyle
) -> Callable[..., Any]:
    """The multicallable's method for `style`: itself, `with_call` or `future`."""
    if style == "__call__":
        return multicallable
    return getattr(multicallable, style)  # type: ignore[no-any-return]
