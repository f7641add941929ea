"""Run the order-api: `python -m services.order_api` (configured by environment variables)."""

from __future__ import annotations

import logging
import sqlite3
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health

from otel import grpc_interceptors, prometheus
from otel.logs import configure_logging
from otel.sdk import Telemetry
from services.envconfig import ConfigError, format_address
from services.order_api.backends import open_store
from services.order_api.config import Config
from services.order_api.db_health import DatabaseHealth
from services.order_api.draining import CallArrivals, stop_gracefully
from services.order_api.metrics import OrderMetrics
from services.order_api.server import (
    SERVICE_NAME,
    ListenError,
    create_health_server,
    create_server,
)
from services.order_api.servicer import OrderServicer
from services.order_api.store import (
    OrderStore,
    SchemaTooNewError,
    StoreUnavailableError,
    redacted,
)
from services.order_api.tls import metrics_ssl_context, server_credentials
from services.startup import install_telemetry, stop_signal, wait_for_stop
from services.supervisor import SupervisorError, SupervisorSettings, supervise
from services.workers import WorkerRole, serve_as_worker

logger = logging.getLogger("services.order_api")

DEFAULT_SERVICE_NAME = "order-api"


def main() -> int:
    """Serve until SIGTERM/SIGINT, then drain in-flight RPCs; return the exit code.

    With ORDER_API_PROCESSES above 1 this process supervises that many workers
    (`services.supervisor`) and answers the metrics port for all of them.
    """
    configure_logging(DEFAULT_SERVICE_NAME)
    try:
        config = Config.from_env()
        credentials = Credentials.from_config(config)
        role = WorkerRole.from_env()
        if role is None and config.processes > 1:
            return _supervise(config, credentials)
        telemetry = install_telemetry(
            DEFAULT_SERVICE_NAME, config.telemetry, access_log_ratio=config.access_log, role=role
        )
    except ConfigError as error:
        print(f"order-api: {error}", file=sys.stderr)
        return 2
    try:
        return _serve(config, telemetry, credentials, role)
    except (ListenError, OSError) as error:
        print(f"order-api: {error}", file=sys.stderr)
        telemetry.shutdown()
        return 1
    except (sqlite3.Error, StoreUnavailableError, SchemaTooNewError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(
            f"order-api: cannot open ORDER_API_DB={redacted(config.db_path)!r}: {reason}",
            file=sys.stderr,
        )
        telemetry.shutdown()
        return 1


@dataclass(frozen=True)
class Credentials:
    """The TLS the configuration asks for: gRPC server credentials, the metrics context source."""

    grpc: grpc.ServerCredentials | None = None
    metrics: Callable[[], ssl.SSLContext] | None = None

    @classmethod
    def from_config(cls, config: Config) -> Credentials:
        """Read and check the files now; ConfigError naming the variable when one is unusable."""
        return cls(
            server_credentials(config.tls) if config.tls else None,
            metrics_ssl_context(config.metrics_tls) if config.metrics_tls else None,
        )


def _supervise(config: Config, credentials: Credentials) -> int:
    """Run the workers; the supervisor answers the metrics port (when Prometheus is selected)."""
    telemetry = config.telemetry
    pulled = not telemetry.sdk_disabled and "prometheus" in telemetry.metrics_exporters
    settings = SupervisorSettings(
        DEFAULT_SERVICE_NAME,
        config.processes,
        config.grace_seconds,
        metrics_listen=telemetry.prometheus_address if pulled else None,
        metrics_tls=credentials.metrics,
    )
    try:
        return supervise(settings)
    except SupervisorError as error:
        print(f"order-api: {error}", file=sys.stderr)
        return 1


def _serve(
    config: Config,
    telemetry: Telemetry,
    credentials: Credentials,
    role: WorkerRole | None = None,
) -> int:
    store = open_store(config.db_path, pool=config.pool, meter_provider=telemetry.meter_provider)
    health_servicer = health.HealthServicer()
    arrivals = CallArrivals()
    server, port = build_server(
        config,
        telemetry,
        store,
        health_servicer,
        role is not None,
        credentials=credentials.grpc,
        arrivals=arrivals,
    )
    metrics_server = None
    exposition = None
    metrics_address = telemetry.prometheus_address
    # A worker's supervisor answers the metrics port, with this worker's series among the others'.
    if role is None and telemetry.prometheus_registry is not None:
        host, metrics_port = metrics_address
        try:
            metrics_server = prometheus.serve(
                telemetry.prometheus_registry, host, metrics_port, ssl_context=credentials.metrics
            )
        except OSError as error:
            raise ListenError(f"cannot serve metrics on {host}:{metrics_port}: {error}") from None
    health_server = (
        create_health_server(
            format_address(config.health_listen), health_servicer, reuse_port=role is not None
        )[0]
        if config.health_listen
        else None
    )
    database_health = DatabaseHealth(store, health_servicer, ["", SERVICE_NAME])
    stopping = stop_signal()
    server.start()
    if health_server is not None:
        health_server.start()
    database_health.start()
    if role is not None:
        exposition = serve_as_worker(role, telemetry.prometheus_registry)
    host = config.listen[0]
    scheme = "https" if credentials.metrics else "http"
    metrics_note = (
        f", metrics on {scheme}://{metrics_address[0]}:{metrics_server.port}/metrics"
        if metrics_server
        else ""
    )
    logger.info(
        "order-api serving gRPC%s on %s:%d%s, db %s",
        _tls_note(config),
        host,
        port,
        metrics_note,
        redacted(config.db_path),
    )
    wait_for_stop(stopping)

    logger.info(
        "order-api stopping: health NOT_SERVING, then draining in-flight RPCs (grace %.0fs)",
        config.grace_seconds,
    )
    database_health.stop()
    stop_gracefully(server, health_servicer, arrivals, config.grace_seconds)
    if health_server is not None:
        health_server.stop(None).wait()
    store.close()
    if metrics_server is not None:
        metrics_server.stop()
    if exposition is not None:
        exposition.stop()
    logger.info("order-api stopped")
    telemetry.shutdown()  # after the last log line: it flushes the log exporter too
    return 0


def _tls_note(config: Config) -> str:
    if config.tls is None:
        return ""
    return " over mTLS" if config.tls.ca is not None else " over TLS"


def build_server(
    config: Config,
    telemetry: Telemetry,
    store: OrderStore,
    health_servicer: health.HealthServicer,
    reuse_port: bool = False,
    *,
    credentials: grpc.ServerCredentials | None = None,
    arrivals: CallArrivals | None = None,
) -> tuple[grpc.Server, int]:
    """The instrumented gRPC server (bound, not started) and its port, as `main` serves it.

    `arrivals`, when given, sees every call first (`draining.stop_gracefully` waits on it).
    """
    servicer = OrderServicer(
        store,
        faults=config.faults,
        on_order_created=OrderMetrics(telemetry.meter_provider).order_created,
    )
    return create_server(
        format_address(config.listen),
        servicer=servicer,
        health_servicer=health_servicer,
        interceptors=[
            *([arrivals] if arrivals is not None else []),
            *grpc_interceptors.server_interceptors(telemetry, [SERVICE_NAME]),
        ],
        max_workers=config.max_workers,
        reuse_port=reuse_port,
        credentials=credentials,
        max_connection_age=config.connection_age.seconds,
        max_connection_age_grace=config.connection_age.grace_seconds,
    )


if __name__ == "__main__":
    raise SystemExit(main())
