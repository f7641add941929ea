"""Builds the order-api's gRPC server: OrderService, the standard health service, limits."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.order_api.servicer import OrderServicer
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_RECEIVE_BYTES = 1024 * 1024
# Calls beyond this many in flight are refused with RESOURCE_EXHAUSTED instead of queueing.
MAX_CONCURRENT_RPCS_PER_WORKER = 8


class ListenError(RuntimeError):
    """The server could not listen on the requested address."""


def create_server(
    address: str,
    *,
    servicer: OrderServicer,
    health_servicer: health.HealthServicer | None = None,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    max_workers: int = 16,
    credentials: grpc.ServerCredentials | None = None,
    reuse_port: bool = False,
    max_connection_age: float | None = None,
    max_connection_age_grace: float | None = None,
) -> tuple[grpc.Server, int]:
    """Create (not start) the server bound to `address`; return it and the bound port.

    With `credentials` the port serves TLS only (`services.order_api.tls`).
    `reuse_port` lets worker processes of one order-api share the port (SO_REUSEPORT,
    grpc's multiprocessing pattern); off otherwise, so a second order-api started on
    a taken port fails instead of silently sharing it. `max_connection_age` (seconds)
    ends each client connection with a GOAWAY after about that long (gRPC adds ±10%
    jitter), calls in flight get `max_connection_age_grace` more; None: never."""
    options: list[tuple[str, int]] = [
        ("grpc.so_reuseport", int(reuse_port)),
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if max_connection_age is not None:
        options.append(("grpc.max_connection_age_ms", round(max_connection_age * 1000)))
    if max_connection_age_grace is not None:
        options.append(("grpc.max_connection_age_grace_ms", round(max_connection_age_grace * 1000)))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="order-api"),
        interceptors=list(interceptors),
        maximum_concurrent_rpcs=max_workers * MAX_CONCURRENT_RPCS_PER_WORKER,
        options=options,
    )
    orders_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
    health_servicer = health_servicer or health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as error:
        raise ListenError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise ListenError(f"cannot listen on {address}: address in use or not available")
    return server, port


def create_health_server(
    address: str, health_servicer: health.HealthServicer, *, reuse_port: bool = False
) -> tuple[grpc.Server, int]:
    """A plaintext server answering only grpc.health.v1 from `health_servicer`, bound to `address`.

    For probes that cannot speak TLS (Kubernetes' gRPC probes) while OrderService
    is TLS-only: it tells SERVING or NOT_SERVING and nothing else.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="order-api-health"),
        maximum_concurrent_rpcs=16,
        # Worker processes (ORDER_API_PROCESSES) each serve the health port, as the gRPC one.
        options=[("grpc.so_reuseport", int(reuse_port))],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise ListenError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise ListenError(f"cannot listen on {address}: address in use or not available")
    return server, port
