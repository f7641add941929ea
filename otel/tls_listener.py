"""An HTTPS listener for a WSGI app (the order-api's `/metrics`), handshaking off the accept loop.

prometheus_client's own TLS option wraps the listening socket, so the TLS
handshake runs inside its single accept loop without a deadline: one client that
connects and sends nothing stops every scrape. Here the loop only accepts; each
connection's thread does the handshake with a deadline, using the context the
`context` callable returns at that moment (so rotated certificates apply to new
connections), then serves the request like prometheus_client's server does.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_SECONDS = 10.0
# How long a connection may take to send its request once the handshake is done.
READ_TIMEOUT_SECONDS = 30.0


class _QuietHandler(WSGIRequestHandler):
    """Logs nothing per request (as prometheus_client's handler)."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


class TlsWSGIServer(ThreadingMixIn, WSGIServer):
    """A thread per connection; the TLS handshake happens in that thread."""

    daemon_threads = True
    context: Callable[[], ssl.SSLContext]

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Handshake with the context of the moment, then serve; a failed handshake is logged."""
        try:
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            tls = self.context().wrap_socket(request, server_side=True)
            tls.settimeout(READ_TIMEOUT_SECONDS)
        except (OSError, ValueError) as error:
            logger.warning("metrics: TLS handshake with %s failed: %s", client_address[0], error)
            self.shutdown_request(request)
            return
        super().process_request_thread(tls, client_address)


def start_tls_server(
    app: Callable[..., Any], host: str, port: int, context: Callable[[], ssl.SSLContext]
) -> tuple[TlsWSGIServer, threading.Thread]:
    """Serve `app` over TLS on host:port from a daemon thread; OSError if unbindable."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(TlsWSGIServer):
        address_family = family

    server = Server((host, port), _QuietHandler)
    server.context = context
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, name="metrics-tls", daemon=True)
    thread.start()
    return server, thread
