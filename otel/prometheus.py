"""Serving the Prometheus registry: a listener of its own (order-api) or a route's body (gateway).

The order-api listens where OTEL_EXPORTER_PROMETHEUS_HOST/PORT say
(`otel.settings.TelemetrySettings.prometheus_address`). Both ways answer in
OpenMetrics when the scraper asks for it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import HTTPServer

from prometheus_client import CollectorRegistry, make_wsgi_app, start_http_server
from prometheus_client.exposition import choose_encoder

from otel.tls_listener import start_tls_server

# (Accept header) -> (exposition body, content type)
Render = Callable[[str | None], tuple[bytes, str]]

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class MetricsServer:
    """A running `/metrics` listener: its server and the thread serving it."""

    server: HTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return int(self.server.server_address[1])

    def stop(self) -> None:
        """Stop listening and wait for the serving thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(
    registry: CollectorRegistry,
    host: str,
    port: int,
    *,
    ssl_context: Callable[[], ssl.SSLContext] | None = None,
) -> MetricsServer:
    """Serve `registry` at http://host:port/metrics from a daemon thread; OSError if unbindable.

    With `ssl_context` it is https: each new connection handshakes with the
    context the callable returns then (`otel.tls_listener`).
    """
    if ssl_context is not None:
        tls_server, tls_thread = start_tls_server(make_wsgi_app(registry), host, port, ssl_context)
        return MetricsServer(tls_server, tls_thread)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """Return the exposition body and its content type for an `Accept` header."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
