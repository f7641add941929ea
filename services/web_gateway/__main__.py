"""Run the web-gateway: `python -m services.web_gateway` (configured by environment variables).

Serves with waitress (`services.web_gateway.server`): one process, one I/O loop
reading requests, GATEWAY_THREADS worker threads running the app on complete
requests. With GATEWAY_HEALTH_LISTEN, a second listener serves only the probes
(`services.web_gateway.health`). SIGTERM or SIGINT stops accepting connections, lets requests in
flight finish for up to GATEWAY_GRACE_SECONDS, then closes the gRPC channel (a
call still running is answered 502) and exits 0.

The server itself refuses a Content-Length over SERVER_MAX_BODY_BYTES (1 MiB)
with a plain-text 413, before the app runs, and bounds how much it buffers per
connection. Bodies from the app's 64 KiB limit up to 1 MiB get the app's JSON 413.
"""

from __future__ import annotations

import logging
import sys
import threading

from flask import Flask
from waitress.task import ThreadedTaskDispatcher

from otel import grpc_client
from otel.instruments import HttpServerConnectionMetrics
from otel.logs import configure_logging
from otel.sdk import Telemetry
from otel.worker_metrics import MergedMetrics
from services.envconfig import ConfigError, format_address
from services.startup import install_telemetry, stop_signal, wait_for_stop
from services.supervisor import SupervisorSettings, supervise
from services.web_gateway.app import MAX_BODY_BYTES, create_app
from services.web_gateway.client import OrderClient
from services.web_gateway.config import Config
from services.web_gateway.health import create_health_server
from services.web_gateway.server import (
    GatewayServer,
    ServerSettings,
    create_server,
    raise_descriptor_limit,
    serve,
)
from services.web_gateway.tls import ChannelCredentials, channel_credentials
from services.workers import WorkerRole, serve_as_worker

logger = logging.getLogger("services.web_gateway")

SERVER_MAX_BODY_BYTES = 1024 * 1024
SERVER_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_SERVICE_NAME = "web-gateway"
# A probe's readiness check is bounded by the client's health-check deadline (1 s).
HEALTH_GRACE_SECONDS = 2.0


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests; return the exit code.

    With GATEWAY_PROCESSES above 1 this process supervises that many workers
    (`services.supervisor`) instead, each serving as described above.
    """
    configure_logging(DEFAULT_SERVICE_NAME)
    try:
        config = Config.from_env()
        credentials = channel_credentials(config.order_api_tls) if config.order_api_tls else None
        role = WorkerRole.from_env()
        if role is None and config.processes > 1:
            raise_descriptor_limit(config.max_connections)
            settings = SupervisorSettings(
                DEFAULT_SERVICE_NAME, config.processes, config.grace_seconds
            )
            return supervise(settings)
        raise_descriptor_limit(config.max_connections)
        telemetry = install_telemetry(
            DEFAULT_SERVICE_NAME, config.telemetry, access_log_ratio=config.access_log, role=role
        )
    except ConfigError as error:
        print(f"web-gateway: {error}", file=sys.stderr)
        return 2
    app, client = build(config, telemetry, role, credentials)
    reuse_port = role is not None
    try:
        server = listen(config, app, reuse_port=reuse_port)
    except OSError as error:
        print(
            f"web-gateway: cannot listen on {format_address(config.listen)}: {error}",
            file=sys.stderr,
        )
        _close(client, telemetry)
        return 1
    health_server = None
    if config.health_listen is not None:
        try:
            health_server = create_health_server(app, config.health_listen, reuse_port=reuse_port)
        except OSError as error:
            print(
                f"web-gateway: GATEWAY_HEALTH_LISTEN: cannot listen on "
                f"{format_address(config.health_listen)}: {error}",
                file=sys.stderr,
            )
            server.close()
            _close(client, telemetry)
            return 1
    if telemetry.enabled:
        HttpServerConnectionMetrics(telemetry.meter_provider, server)
    exposition = serve_as_worker(role, telemetry.prometheus_registry) if role is not None else None
    _serve_until_stopped(server, config, client, health_server)
    if exposition is not None:
        exposition.stop()
    logger.info("web-gateway stopped")
    _close(client, telemetry)  # after the last log line: it flushes the log exporter too
    return 0


def build(
    config: Config,
    telemetry: Telemetry,
    role: WorkerRole | None = None,
    credentials: ChannelCredentials | None = None,
) -> tuple[Flask, OrderClient]:
    """The instrumented app and its instrumented order-api client, as `main` serves them.

    A worker's `/metrics` answers with every worker's series (`otel.worker_metrics`).
    """
    client = OrderClient(
        config.order_api_target,
        config.order_api_timeout,
        wrap_channel=lambda channel: grpc_client.instrument_channel(channel, telemetry),
        credentials=credentials,
        server_name=config.order_api_tls.server_name if config.order_api_tls else None,
    )
    render_metrics = MergedMetrics(role.directory).render if role is not None else None
    app = create_app(config, client=client, telemetry=telemetry, render_metrics=render_metrics)
    return app, client


def _close(client: OrderClient, telemetry: Telemetry) -> None:
    client.close()
    telemetry.shutdown()  # exports the last spans and metrics


def listen(
    config: Config,
    app: Flask,
    *,
    reuse_port: bool = False,
    dispatcher: ThreadedTaskDispatcher | None = None,
) -> GatewayServer:
    """Create the HTTP server and bind its socket; OSError when the address is taken.

    `dispatcher`: see `server.create_server` (the benchmarks compare waitress's own).
    """
    settings = ServerSettings(
        threads=config.threads,
        max_connections=config.max_connections,
        header_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        keepalive_timeout=config.keepalive_timeout,
        max_header_bytes=SERVER_MAX_HEADER_BYTES,
        max_body_bytes=SERVER_MAX_BODY_BYTES,
        app_max_body_bytes=MAX_BODY_BYTES,
        reuse_port=reuse_port,
    )
    return create_server(app, config.listen, settings, dispatcher=dispatcher)


def _serve_until_stopped(
    server: GatewayServer,
    config: Config,
    client: OrderClient,
    health_server: GatewayServer | None = None,
) -> None:
    stopping = stop_signal()
    serving = serve(server)
    health_serving = serve(health_server) if health_server is not None else None
    logger.info(
        "web-gateway serving HTTP on %s:%d (at most %d connections)%s, order-api at %s%s",
        server.effective_host,
        server.port,
        config.max_connections,
        _health_note(health_server),
        config.order_api_target,
        _tls_note(config),
    )
    wait_for_stop(stopping)

    logger.info(
        "web-gateway stopping: draining in-flight requests (grace %gs)", config.grace_seconds
    )
    # Both listeners stop accepting at once: probes then fail as they do on the main port.
    health_draining = None
    if health_server is not None:
        health_draining = threading.Thread(
            target=health_server.drain,
            args=(HEALTH_GRACE_SECONDS,),
            kwargs={"on_grace_expired": lambda: None},
            name="web-gateway-health-drain",
        )
        health_draining.start()
    # A worker inside an order-api call waits for that call's deadline (ORDER_API_TIMEOUT, up
    # to 60 s): closing the channel when the grace runs out ends such calls (answered 502).
    server.drain(config.grace_seconds, on_grace_expired=client.close)
    serving.join()
    for thread in (health_draining, health_serving):
        if thread is not None:
            thread.join()


def _health_note(health_server: GatewayServer | None) -> str:
    if health_server is None:
        return ""
    return f", health on {health_server.effective_host}:{health_server.port}"


def _tls_note(config: Config) -> str:
    if config.order_api_tls is None:
        return " (plaintext)"
    return " over mTLS" if config.order_api_tls.client else " over TLS"


if __name__ == "__main__":
    raise SystemExit(main())
