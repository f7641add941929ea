"""The gateway's HTTP server: waitress, with a connection limit, read deadlines and a drain.

waitress reads and parses requests for every connection in one I/O loop and
hands only complete requests to a fixed pool of worker threads (the one idle the
shortest takes the next, `dispatcher.LastIdleFirstDispatcher`): a connection
that is slow to send, or sends nothing, costs a descriptor and a few KiB, never
a thread. The loop is `poller.Poller` (epoll; waitress's own `poll()` loop where
epoll is missing): neither has `select()`'s 1,024-descriptor ceiling. This
module adds what waitress lacks, through its extension points (`channel_class`,
`parser_class`, `maintenance`, `handle_accept`, `run`):

- **Connection limit.** Beyond `max_connections` open connections a new one is
  answered `503` with the gateway's JSON error and closed at once (waitress
  itself would stop accepting, leaving clients waiting in the listen backlog).
- **Read deadlines.** waitress only closes connections idle for longer than its
  `channel_timeout`, which a client dribbling one byte a second never is. Here a
  request's headers must arrive within `header_timeout` of its first byte (a new
  connection's first byte within `header_timeout` too), its body within
  `body_timeout` of its headers, and a connection may idle between requests for
  `keepalive_timeout`. Deadlines are checked about once a second.
- **Drain.** `drain(grace)` stops accepting, closes each connection once its
  answers are sent (a request begun before is read to its end), and returns when
  none is left or the grace period is over.

A connection buffers at most its headers (`max_header_bytes`) and a body of up
to `app_max_body_bytes` (larger ones are never read, see `connection.TimedRequestParser`),
in memory, far below waitress's 512 KiB threshold for spilling to a temporary
file: each connection holds one descriptor, which `raise_descriptor_limit`
provides for.
"""

from __future__ import annotations

import json
import logging
import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from services.envconfig import ConfigError
from services.web_gateway.connection import Channel, channel_in_service
from services.web_gateway.dispatcher import LastIdleFirstDispatcher
from services.web_gateway.poller import Poller

logger = logging.getLogger(__name__)

# How often (whole seconds: waitress's unit) read deadlines and idle timeouts are checked.
CHECK_INTERVAL_SECONDS = 1
# Descriptors for everything but client connections: listener, trigger pipe, gRPC, logs, ...
RESERVED_DESCRIPTORS = 64
DESCRIPTORS_PER_CONNECTION = 1  # its socket: bodies are too small to spill to a file
# waitress counts its listening socket and its trigger pipe among its connections.
_WAITRESS_OWN_DISPATCHERS = 2
_DRAIN_POLL_SECONDS = 0.05
# Time for answers written after the grace period (502s of cancelled calls) to go out.
_LAST_ANSWERS_SECONDS = 0.5

_REFUSAL_BODY = json.dumps(
    {"error": {"code": "unavailable", "message": "too many open connections; retry later"}}
).encode()
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n\r\n" + _REFUSAL_BODY
)

WsgiApp = Callable[..., Any]


@dataclass(frozen=True)
class ServerSettings:
    """What the HTTP server is told: sizes, limits and deadlines."""

    threads: int
    max_connections: int
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    max_header_bytes: int  # larger headers: the server's plain-text 431
    max_body_bytes: int  # larger bodies: the server's plain-text 413
    app_max_body_bytes: int  # larger declared bodies go to the app unread (see below)
    # SO_REUSEPORT: worker processes of one gateway listen on the same port.
    reuse_port: bool = False


class GatewayServer(TcpWSGIServer):  # type: ignore[misc]
    """waitress's TCP server with the limit, the deadlines and the drain described above."""

    channel_class = Channel
    active_channels: dict[int, Channel]

    def __init__(
        self,
        app: WsgiApp,
        address: tuple[str, int],
        settings: ServerSettings,
        dispatcher: ThreadedTaskDispatcher | None = None,
    ) -> None:
        self.settings = settings
        self._drained = False
        self.refused_connections = 0
        host, port = address
        dispatcher = dispatcher if dispatcher is not None else LastIdleFirstDispatcher()
        dispatcher.set_thread_count(settings.threads)
        super().__init__(
            app,
            host=host,
            port=port,
            dispatcher=dispatcher,
            threads=settings.threads,
            # Without epoll (not Linux), waitress's own loop, on poll(): select() cannot
            # watch descriptors numbered 1,024 and above.
            asyncore_use_poll=True,
            # Ours refuses with a 503 first; waitress's own limit (stop accepting) never applies.
            connection_limit=settings.max_connections + _WAITRESS_OWN_DISPATCHERS + 1,
            cleanup_interval=CHECK_INTERVAL_SECONDS,
            channel_timeout=max(settings.keepalive_timeout, settings.header_timeout),
            # waitress refuses sizes from its limit on, the settings say the largest accepted.
            max_request_header_size=settings.max_header_bytes + 1,
            max_request_body_size=settings.max_body_bytes + 1,
            expose_tracebacks=False,
            ident=None,  # no Server header
            clear_untrusted_proxy_headers=False,
        )

        self._poller: Poller | None = None
        if hasattr(select, "epoll"):
            self._poller = Poller(self._map)
            for fd in self._map:  # the listening socket and the trigger
                self._poller.ask_every_turn(fd)

    def bind_server_socket(self) -> None:
        if self.settings.reuse_port:
            # The kernel then spreads new connections over every worker's listening socket.
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().bind_server_socket()

    def run(self) -> None:
        """Run the I/O loop until the server is closed."""
        if self._poller is None:
            super().run()
            return
        self._poller.run(self.adj.asyncore_loop_timeout)

    def mark(self, channels: Iterable[Channel]) -> None:
        """Tell the I/O loop these connections may want to read or write otherwise now."""
        self.mark_fds(channel._fileno for channel in channels)

    def mark_fds(self, fds: Iterable[int | None]) -> None:
        """`mark`, by descriptor."""
        if self._poller is not None:
            self._poller.mark(fds)

    def forget_fd(self, fd: int | None) -> None:
        """Tell the I/O loop this descriptor is about to be closed."""
        if self._poller is not None:
            self._poller.forget(fd)

    def del_channel(self, map: Any = None) -> None:
        self.forget_fd(self._fileno)
        super().del_channel(map)

    def pull_trigger(self) -> None:
        # A worker wakes the loop after changing its connection's state (answer written,
        # request done): that connection is the one to look at again.
        channel = channel_in_service()
        if channel is not None:
            self.mark([channel])
        super().pull_trigger()

    # --- in the I/O loop's thread ---

    def handle_accept(self) -> None:
        if len(self.active_channels) < self.settings.max_connections:
            super().handle_accept()
            return
        try:
            pair = self.accept()
        except OSError:
            return
        if pair is None:
            return
        connection, _address = pair
        self.refused_connections += 1
        try:
            connection.setblocking(False)
            connection.send(REFUSAL)  # a fresh socket's send buffer always has room for it
        except OSError:
            pass
        finally:
            connection.close()

    def maintenance(self, now: float) -> None:
        """Close connections past their read deadline or idle timeout (replaces waitress's)."""
        late = [
            channel
            for channel in list(self.active_channels.values())
            if (deadline := channel.deadline(self.settings)) is not None and now > deadline
        ]
        for channel in late:
            channel.will_close = True
        self.mark(late)

    def _stop_reading(self) -> None:
        self.accepting = False
        wasyncore.dispatcher.close(self)  # the listening socket only; the trigger stays
        self._close_finished()

    def _close_finished(self) -> None:
        """Close every connection once its answers are sent; read no new request on it."""
        for channel in list(self.active_channels.values()):
            if channel.request is not None:
                continue  # a request begun before the drain is read to its end
            if channel.serving:
                # waitress closes the connection after the answer, unless already started.
                for request in channel.requests:
                    request.headers["CONNECTION"] = "close"
            else:
                channel.close_when_flushed = True
        self.mark(self.active_channels.values())

    def _close_all(self) -> None:
        wasyncore.close_all(self._map)  # empties the map, so the I/O loop returns

    # --- from any thread ---

    def connection_counts(self) -> tuple[int, int]:
        """(active, idle) open connections: with a request in a worker's hands, and the rest."""
        channels = list(self.active_channels.values())
        active = sum(1 for channel in channels if channel.serving)
        return active, len(channels) - active

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.effective_port)

    def drain(self, grace: float, *, on_grace_expired: Callable[[], None]) -> None:
        """Stop accepting and reading, let answers in progress finish, then stop the I/O loop.

        When connections are still busy after `grace` seconds, `on_grace_expired` runs
        (it should make the app's calls in flight end), then everything is closed.
        """
        if self._drained:
            return
        self._drained = True
        self._in_loop(self._stop_reading)
        if not self._wait_until_closed(grace):
            logger.warning(
                "grace period over with %d connection(s) busy; cancelling their calls",
                len(self.active_channels),
            )
            on_grace_expired()
            self._wait_until_closed(_LAST_ANSWERS_SECONDS)
        self._in_loop(self._close_all)

    def _wait_until_closed(self, seconds: float) -> bool:
        """Close connections as their answers finish; whether all closed within `seconds`."""
        deadline = time.monotonic() + seconds
        while self.active_channels:
            if time.monotonic() >= deadline:
                return False
            self._in_loop(self._close_finished)
            time.sleep(_DRAIN_POLL_SECONDS)
        return True

    def _in_loop(self, thunk: Callable[[], None]) -> None:
        self.trigger.pull_trigger(thunk)


def create_server(
    app: WsgiApp,
    address: tuple[str, int],
    settings: ServerSettings,
    *,
    dispatcher: ThreadedTaskDispatcher | None = None,
) -> GatewayServer:
    """Bind the server's socket (OSError when the address is taken); `serve` runs it.

    `dispatcher` runs the requests on `settings.threads` threads; by default the
    thread idle the shortest takes the next one (`dispatcher.LastIdleFirstDispatcher`).
    """
    # waitress warns on every request that waits for a worker thread: under load, a line
    # per request (it costs more CPU than the server itself, and floods the log).
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return GatewayServer(app, address, settings, dispatcher)


def serve(server: GatewayServer) -> threading.Thread:
    """Run the server's I/O loop in a thread of its own and return the thread."""
    thread = threading.Thread(target=server.run, name="web-gateway-http")
    thread.start()
    return thread


def raise_descriptor_limit(max_connections: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit for `max_connections`; ConfigError if the hard one is low.

    Returns the soft limit now in force.
    """
    needed = max_connections * DESCRIPTORS_PER_CONNECTION + RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise ConfigError(
                f"GATEWAY_MAX_CONNECTIONS={max_connections}: needs {needed} file descriptors, "
                f"the hard limit (ulimit -Hn) is {hard}; lower it or raise the limit"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return soft
