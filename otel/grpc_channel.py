"""A channel wrapper that delegates all but unary-unary calls: the base of the gateway's wrappers.

`MeteredChannel` (metrics) and the tracing short path's channel each change only
how a unary-unary call is made; connectivity, closing and streaming methods go to
the channels they wrap, written once here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import grpc

Serializer = Any  # Callable[[request], bytes] | None, as grpc takes it
Deserializer = Any  # Callable[[bytes], response] | None


class DelegatingChannel(grpc.Channel):
    """Connectivity and closing go to `channel`, streaming multicallables to `streams`."""

    def __init__(self, channel: grpc.Channel, streams: grpc.Channel | None = None) -> None:
        self._channel = channel
        self._streams = channel if streams is None else streams

    def unary_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool = False,
    ) -> grpc.UnaryUnaryMultiCallable[Any, Any]:
        """The wrapped channel's multicallable (subclasses change this one)."""
        return self._channel.unary_unary(  # type: ignore[call-arg]
            method, request_serializer, response_deserializer, _registered_method
        )

    def unary_stream(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool = False,
    ) -> grpc.UnaryStreamMultiCallable[Any, Any]:
        """The streams channel's multicallable, unchanged."""
        return self._streams.unary_stream(  # type: ignore[call-arg]
            method, request_serializer, response_deserializer, _registered_method
        )

    def stream_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool = False,
    ) -> grpc.StreamUnaryMultiCallable[Any, Any]:
        """The streams channel's multicallable, unchanged."""
        return self._streams.stream_unary(  # type: ignore[call-arg]
            method, request_serializer, response_deserializer, _registered_method
        )

    def stream_stream(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: bool = False,
    ) -> grpc.StreamStreamMultiCallable[Any, Any]:
        """The streams channel's multicallable, unchanged."""
        return self._streams.stream_stream(  # type: ignore[call-arg]
            method, request_serializer, response_deserializer, _registered_method
        )

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
