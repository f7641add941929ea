"""The order-api's configuration, read once from the environment: its own and OTEL_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from otel.settings import ConfigError, TelemetrySettings
from services import envconfig, workers
from services.order_api.faults import FaultPlan, FaultSpecError
from services.order_api.store import PoolSettings

# gRPC's usual port.
DEFAULT_PORT = 50051


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
    # Worker processes sharing the gRPC port (1: this process serves, no supervisor).
    processes: int = 1

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
            processes=processes,
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
