"""The order-api's configuration, read once from the environment: its own and OTEL_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from otel.settings import ConfigError, TelemetrySettings
from otel.tls_files import KeyPairFiles
from services import envconfig, workers
from services.order_api import tls
from services.order_api.faults import FaultPlan, FaultSpecError
from services.order_api.store import PoolSettings

# gRPC's usual port.
DEFAULT_PORT = 50051
# The longest connection age or grace a variable may ask for: a day is as good as never.
MAX_CONNECTION_AGE_SECONDS = 86400.0


@dataclass(frozen=True)
class ConnectionAge:
    """How long a client connection lives (`grpc.max_connection_age_ms`) and its grace after."""

    seconds: float = 30.0
    grace_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ConnectionAge:
        """Read ORDER_API_MAX_CONNECTION_AGE and ORDER_API_MAX_CONNECTION_AGE_GRACE (seconds)."""
        defaults = cls()
        return cls(
            envconfig.seconds(
                environ,
                "ORDER_API_MAX_CONNECTION_AGE",
                defaults.seconds,
                high=MAX_CONNECTION_AGE_SECONDS,
            ),
            envconfig.seconds(
                environ,
                "ORDER_API_MAX_CONNECTION_AGE_GRACE",
                defaults.grace_seconds,
                high=MAX_CONNECTION_AGE_SECONDS,
            ),
        )


@dataclass(frozen=True)
class Config:
    """Settings of one order-api process."""

    listen: tuple[str, int] = ("0.0.0.0", DEFAULT_PORT)
    db_path: str = "var/orders.db"
    max_workers: int = 16
    grace_seconds: float = 10.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    pool: PoolSettings = field(default_factory=PoolSettings)
    # The fraction of RPCs with an access line (ACCESS_LOG).
    access_log: float = 1.0
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    # TLS for gRPC and for /metrics (None: plaintext); a client CA requires client certificates.
    tls: KeyPairFiles | None = None
    metrics_tls: KeyPairFiles | None = None
    # A plaintext port serving only the gRPC health service (probes without TLS), or None.
    health_listen: tuple[str, int] | None = None
    # Worker processes sharing the gRPC port (1: this process serves, no supervisor).
    processes: int = 1
    # Connections are closed (GOAWAY) after this long, so clients re-resolve the service's
    # name and reach replicas added since; calls in flight then get the grace to finish.
    connection_age: ConnectionAge = field(default_factory=ConnectionAge)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        """Read ORDER_API_*, ACCESS_LOG and OTEL_* variables; ConfigError names a bad one."""
        defaults = cls()
        try:
            faults = FaultPlan.parse(environ.get("ORDER_API_FAULTS", "").split(","))
        except FaultSpecError as error:
            raise ConfigError(f"ORDER_API_FAULTS: {error}") from None
        processes = workers.processes(environ, "ORDER_API_PROCESSES")
        listen = workers.single_port(
            envconfig.address(environ, "ORDER_API_LISTEN", defaults.listen),
            "ORDER_API_LISTEN",
            processes,
            "ORDER_API_PROCESSES",
        )
        db_path = environ.get("ORDER_API_DB") or defaults.db_path
        if processes > 1 and db_path == ":memory:":
            raise ConfigError(
                "ORDER_API_DB=':memory:': each worker would have its own database; "
                "use a file or PostgreSQL when ORDER_API_PROCESSES is above 1"
            )
        return cls(
            listen=listen,
            db_path=db_path,
            max_workers=envconfig.integer(
                environ, "ORDER_API_WORKERS", defaults.max_workers, 1, 256
            ),
            grace_seconds=envconfig.seconds(
                environ, "ORDER_API_GRACE_SECONDS", defaults.grace_seconds
            ),
            faults=faults,
            pool=_pool_settings(environ, defaults.pool),
            access_log=envconfig.access_log(environ),
            telemetry=TelemetrySettings.from_env(environ),
            tls=tls.files_from_env(environ, tls.GRPC_VARIABLES),
            metrics_tls=tls.files_from_env(environ, tls.METRICS_VARIABLES),
            health_listen=(
                envconfig.address(environ, "ORDER_API_HEALTH_LISTEN", ("0.0.0.0", 50052))
                if environ.get("ORDER_API_HEALTH_LISTEN")
                else None
            ),
            processes=processes,
            connection_age=ConnectionAge.from_env(environ),
        )


def _pool_settings(environ: Mapping[str, str], defaults: PoolSettings) -> PoolSettings:
    """The PostgreSQL connection pool's settings (ORDER_API_DB_POOL_SIZE, …_CONNECT_TIMEOUT)."""
    connect_timeout = envconfig.seconds(
        environ, "ORDER_API_DB_CONNECT_TIMEOUT", defaults.connect_timeout_seconds, high=300
    )
    return PoolSettings(
        min_size=defaults.min_size,
        max_size=envconfig.integer(environ, "ORDER_API_DB_POOL_SIZE", defaults.max_size, 1, 200),
        connect_timeout_seconds=connect_timeout,
        acquire_timeout_seconds=connect_timeout,
    )
