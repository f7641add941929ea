"""Run the web-gateway: `python -m services.web_gateway` (configured by environment variables).

Serves with cheroot: one process, GATEWAY_THREADS worker threads. SIGTERM or
SIGINT stops accepting connections, lets requests in flight finish for up to
GATEWAY_GRACE_SECONDS, then closes the gRPC channel and exits 0.

cheroot itself refuses a Content-Length over SERVER_MAX_BODY_BYTES (1 MiB) with
a plain-text 413, before the app runs. That bounds what it reads and discards to
keep a connection open after an answer that left the body unread (a 404 or a
415, say). Bodies from the app's 64 KiB limit up to 1 MiB get the app's JSON 413.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from cheroot import wsgi
from flask import Flask

from otel import grpc_interceptors
from otel.exporters import TelemetryConfigError
from otel.logs import configure_logging
from otel.sdk import Telemetry, build_and_install
from services.envconfig import ConfigError
from services.web_gateway.app import create_app
from services.web_gateway.client import OrderClient
from services.web_gateway.config import Config

logger = logging.getLogger("services.web_gateway")

SERVER_MAX_BODY_BYTES = 1024 * 1024
SERVER_MAX_HEADER_BYTES = 16 * 1024
REQUEST_QUEUE_SIZE = 128
DEFAULT_SERVICE_NAME = "web-gateway"


class _Server(wsgi.Server):
    """cheroot's WSGI server, logging through `logging` instead of writing to stderr."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        logger.log(level, "%s", msg, exc_info=traceback)


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests; return the exit code."""
    configure_logging(DEFAULT_SERVICE_NAME)
    try:
        config = Config.from_env()
        telemetry = build_and_install(DEFAULT_SERVICE_NAME, os.environ)
    except (ConfigError, TelemetryConfigError) as error:
        print(f"web-gateway: {error}", file=sys.stderr)
        return 2
    configure_logging(telemetry.service_name, telemetry.logger_provider)
    client = OrderClient(
        config.order_api_target,
        config.order_api_timeout,
        wrap_channel=lambda channel: grpc_interceptors.instrument_channel(channel, telemetry),
    )
    try:
        server = _listen(config, create_app(config, client=client, telemetry=telemetry))
    except OSError as error:
        print(f"web-gateway: cannot listen on {config.listen}: {error}", file=sys.stderr)
        _close(client, telemetry)
        return 1
    _serve_until_stopped(server, config, client)
    logger.info("web-gateway stopped")
    _close(client, telemetry)  # after the last log line: it flushes the log exporter too
    return 0


def _close(client: OrderClient, telemetry: Telemetry) -> None:
    client.close()
    telemetry.shutdown()  # exports the last spans and metrics


def _listen(config: Config, app: Flask) -> _Server:
    """Create the HTTP server and bind its socket; OSError when the address is taken."""
    server = _Server(
        _bind_address(config.listen),
        app,
        numthreads=config.threads,
        max=config.threads,
        request_queue_size=REQUEST_QUEUE_SIZE,
    )
    # Set here rather than in the constructor, whose type hint wants whole seconds.
    server.shutdown_timeout = config.grace_seconds
    server.max_request_header_size = SERVER_MAX_HEADER_BYTES
    server.max_request_body_size = SERVER_MAX_BODY_BYTES
    server.prepare()
    return server


def _serve_until_stopped(server: _Server, config: Config, client: OrderClient) -> None:
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    serving = threading.Thread(target=server.serve, name="web-gateway-http")
    serving.start()
    host, port = server.bind_addr[:2]
    logger.info(
        "web-gateway serving HTTP on %s:%d, order-api at %s", host, port, config.order_api_target
    )
    stopping.wait()

    logger.info(
        "web-gateway stopping: draining in-flight requests (grace %gs)", config.grace_seconds
    )
    # cheroot waits for busy workers even past the grace period (it only shuts the reading
    # side of their connections), and a worker inside an order-api call waits for that call's
    # deadline (ORDER_API_TIMEOUT, up to 60 s). Cancel such calls when the grace runs out.
    cancel_calls = threading.Timer(config.grace_seconds, client.close)
    cancel_calls.start()
    server.stop()
    serving.join()
    cancel_calls.cancel()


def _bind_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


if __name__ == "__main__":
    raise SystemExit(main())
