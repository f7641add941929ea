"""Probes that say whether a started service is ready: gRPC health, HTTP status, open ports."""

from __future__ import annotations

import socket
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PROBE_TIMEOUT_SECONDS = 1.0


def grpc_serving(target: str, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Whether grpc.health.v1 at `target` (host:port) answers SERVING for the whole server."""
    with grpc.insecure_channel(target) as channel:
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
