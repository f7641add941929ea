"""A gRPC channel that answers every unary call at once, for timing the wrappers around it.

No serialization and no I/O: what a benchmark measures through it is the
wrappers' own work (metrics, tracing). Duck-typed: only the little of
grpc.Channel, multicallable and grpc.Call that the wrappers use.
"""

from __future__ import annotations

import grpc


class AnsweredCall:
    """The little of grpc.Call the interceptor path reads of a finished call."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.OK


class AnsweringMultiCallable:
    """A multicallable answering at once; it keeps the metadata of the last call."""

    def __init__(self, response: object) -> None:
        self._response = response
        self.metadata: object = None

    def __call__(
        self, request: object, timeout: object = None, metadata: object = None, *options: object
    ) -> object:
        self.metadata = metadata
        return self._response

    def with_call(self, request: object, **options: object) -> tuple[object, AnsweredCall]:
        return self._response, AnsweredCall()


class AnsweringChannel:
    """A channel whose every multicallable is `calls`."""

    def __init__(self, response: object) -> None:
        self.calls = AnsweringMultiCallable(response)

    def unary_unary(self, method: str, *options: object) -> AnsweringMultiCallable:
        return self.calls

    def unary_stream(self, method: str, *options: object) -> AnsweringMultiCallable:
        return self.calls

    def close(self) -> None:
        return None
