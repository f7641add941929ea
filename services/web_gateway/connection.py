"""One client connection of the gateway's server: its parser and its read deadline.

`TimedRequestParser` notes when a request began and when its headers ended (and
refuses what must never be buffered); `Channel` is waitress's connection with
the deadline the server enforces, and it tells the server which connection a
worker thread is serving (`channel_in_service`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import Error as WaitressError

if TYPE_CHECKING:
    from services.web_gateway.server import GatewayServer, ServerSettings

# The connection whose request the current worker thread is serving.
_in_service = threading.local()


class VersionNotSupportedError(WaitressError):  # type: ignore[misc]
    code = 505
    reason = "HTTP Version Not Supported"


class TimedRequestParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's request parser, noting when the request began and when its headers ended.

    Two refusals happen here, before anything is buffered: a request line in an
    HTTP version other than 1.x gets a plain-text 505 (waitress would serve it
    as HTTP/1.0), and a request whose body is over `app_max_body_bytes` (as
    declared, or as received when chunked) is handed to the app without its body,
    which the app refuses unread with its JSON 413; the connection is closed after
    that answer.
    """

    completed: bool
    headers_finished: bool
    content_length: int
    body_bytes_received: int
    chunked: bool
    version: str
    error: WaitressError | None
    headers: dict[str, str]

    def __init__(self, adj: Any, *, app_max_body_bytes: int) -> None:
        super().__init__(adj)
        # waitress creates a parser when the first byte of a request arrives.
        self.started_at = time.time()
        self.headers_done_at: float | None = None
        self._app_max_body_bytes = app_max_body_bytes

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if not self.headers_finished or self.error is not None:
            return consumed
        if self.headers_done_at is None:
            self.headers_done_at = time.time()
            if self.version and not self.version.startswith("1."):
                self.error = VersionNotSupportedError(f"HTTP/{self.version}")
                self.completed = True
                return len(data)
        if self.completed:
            return consumed
        body_bytes = self.body_bytes_received if self.chunked else self.content_length
        if body_bytes > self._app_max_body_bytes:
            self.headers["CONTENT_LENGTH"] = str(body_bytes)
            self.headers["CONNECTION"] = "close"  # waitress closes after the answer
            self.completed = True
            return len(data)  # the rest is body, never parsed as another request
        return consumed


class Channel(HTTPChannel):  # type: ignore[misc]
    """One client connection, which knows its read deadline."""

    server: GatewayServer
    request: TimedRequestParser | None
    # False until the first byte of the first request arrives.
    had_request = False

    @property
    def parser_class(self) -> Callable[[Any], TimedRequestParser]:
        """What waitress calls to start parsing a request."""
        limit = self.server.settings.app_max_body_bytes
        return functools.partial(TimedRequestParser, app_max_body_bytes=limit)

    def received(self, data: bytes) -> bool:
        self.had_request = True
        return bool(super().received(data))

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self.server.mark([self])

    def del_channel(self, map: Any = None) -> None:
        self.server.forget_fd(self._fileno)
        super().del_channel(map)

    def service(self) -> None:
        _in_service.channel = self
        try:
            super().service()
        finally:
            _in_service.channel = None

    @property
    def serving(self) -> bool:
        """Whether a worker thread has (or will have) a complete request of this connection."""
        return bool(self.requests)

    def deadline(self, settings: ServerSettings) -> float | None:
        """The time.time() by which this connection must make progress, or None while served."""
        if self.serving:
            return None  # the app's own time is bounded by ORDER_API_TIMEOUT
        request = self.request
        if request is None:
            idle = settings.keepalive_timeout if self.had_request else settings.header_timeout
            return float(self.last_activity) + idle
        if request.headers_done_at is None:
            return request.started_at + settings.header_timeout
        return request.headers_done_at + settings.body_timeout


def channel_in_service() -> Channel | None:
    """The connection whose request the calling worker thread is serving, if any."""
    channel: Channel | None = getattr(_in_service, "channel", None)
    return channel
