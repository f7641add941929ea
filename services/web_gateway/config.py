"""The web-gateway's configuration, read once from the environment: its own and OTEL_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from otel.settings import TelemetrySettings
from services import envconfig, workers
from services.web_gateway import tls
from services.web_gateway.tls import ChannelTlsFiles

MAX_TIMEOUT_SECONDS = 60.0
MAX_THREADS = 1024
MAX_CONNECTIONS = 100_000
MAX_READ_TIMEOUT_SECONDS = 600.0
MIN_TOKEN_LENGTH = 16
DEFAULT_PORT = 8080
DEFAULT_HEALTH_PORT = 8081


@dataclass(frozen=True)
class Config:
    """Settings of one web-gateway process."""

    listen: tuple[str, int] = ("0.0.0.0", DEFAULT_PORT)
    order_api_target: str = "localhost:50051"
    order_api_timeout: float = 2.0
    threads: int = 64
    grace_seconds: float = 10.0
    # Open connections at most; the next ones are answered 503 and closed at once.
    max_connections: int = 1000
    # From a request's first byte until its headers have arrived (also: a new connection's
    # first byte), and from the end of its headers until its body has arrived.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    # How long a connection may sit idle between requests.
    keepalive_timeout: float = 75.0
    # When set, GET /metrics requires `Authorization: Bearer <token>` (kept out of repr and logs).
    metrics_token: str | None = field(default=None, repr=False)
    # The fraction of requests with an access line (ACCESS_LOG).
    access_log: float = 1.0
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    # TLS towards the order-api (None: plaintext), from ORDER_API_CA and its companions.
    order_api_tls: ChannelTlsFiles | None = None
    # Worker processes sharing the listening port (1: this process serves, no supervisor).
    processes: int = 1
    # A plaintext port serving only /healthz and /readyz, outside max_connections, or None.
    health_listen: tuple[str, int] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        """Read GATEWAY_*, ORDER_API_*, ACCESS_LOG and OTEL_*; ConfigError names a bad one."""
        defaults = cls()
        processes = workers.processes(environ, "GATEWAY_PROCESSES")
        listen = envconfig.address(environ, "GATEWAY_LISTEN", defaults.listen)
        return cls(
            listen=workers.single_port(listen, "GATEWAY_LISTEN", processes, "GATEWAY_PROCESSES"),
            order_api_target=envconfig.grpc_target(
                environ, "ORDER_API_TARGET", defaults.order_api_target
            ),
            order_api_timeout=envconfig.seconds(
                environ, "ORDER_API_TIMEOUT", defaults.order_api_timeout, MAX_TIMEOUT_SECONDS
            ),
            threads=envconfig.integer(environ, "GATEWAY_THREADS", defaults.threads, 1, MAX_THREADS),
            grace_seconds=envconfig.seconds(
                environ, "GATEWAY_GRACE_SECONDS", defaults.grace_seconds
            ),
            max_connections=envconfig.integer(
                environ, "GATEWAY_MAX_CONNECTIONS", defaults.max_connections, 1, MAX_CONNECTIONS
            ),
            header_timeout=envconfig.seconds(
                environ, "GATEWAY_HEADER_TIMEOUT", defaults.header_timeout, MAX_READ_TIMEOUT_SECONDS
            ),
            body_timeout=envconfig.seconds(
                environ, "GATEWAY_BODY_TIMEOUT", defaults.body_timeout, MAX_READ_TIMEOUT_SECONDS
            ),
            keepalive_timeout=envconfig.seconds(
                environ,
                "GATEWAY_KEEPALIVE_TIMEOUT",
                defaults.keepalive_timeout,
                MAX_READ_TIMEOUT_SECONDS,
            ),
            metrics_token=_metrics_token(environ),
            access_log=envconfig.access_log(environ),
            telemetry=TelemetrySettings.from_env(environ),
            order_api_tls=tls.files_from_env(environ),
            processes=processes,
            health_listen=_health_listen(environ, listen, processes),
        )


def _health_listen(
    environ: Mapping[str, str], listen: tuple[str, int], processes: int
) -> tuple[str, int] | None:
    """GATEWAY_HEALTH_LISTEN, refused on the main port (the kernel would mix the two)."""
    name = "GATEWAY_HEALTH_LISTEN"
    if not environ.get(name):
        return None
    health = envconfig.address(environ, name, ("0.0.0.0", DEFAULT_HEALTH_PORT))
    workers.single_port(health, name, processes, "GATEWAY_PROCESSES")
    if health[1] != 0 and health[1] == listen[1]:
        raise envconfig.ConfigError(
            f"{name}={envconfig.format_address(health)!r}: the same port as GATEWAY_LISTEN; "
            "the health listener needs a port of its own"
        )
    return health


def _metrics_token(environ: Mapping[str, str]) -> str | None:
    token = environ.get("GATEWAY_METRICS_TOKEN", "")
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        raise envconfig.ConfigError(
            f"GATEWAY_METRICS_TOKEN: expected at least {MIN_TOKEN_LENGTH} printable ASCII "
            "characters (the value is not shown)"
        )
    return token
