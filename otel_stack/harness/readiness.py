"""Probes that say whether a started service is ready: gRPC health, HTTP status, open ports."""

from __future__ import annotations

import socket
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PROBE_TIMEOUT_SECONDS = 1.0


def grpc_serving(
    target: str,
    *,
    timeout: float = PROBE_TIMEOUT_SECONDS,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str | None = None,
) -> bool:
    """Whether grpc.health.v1 at `target` (host:port) answers SERVING for the whole server.

    With `credentials` the probe connects over TLS, checking the certificate for
    `server_name` when given (else the target's host).
    """
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    channel = (
        grpc.insecure_channel(target)
        if credentials is None
        else grpc.secure_channel(target, credentials, options=options)
    )
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def listening(host: str, port: int, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
