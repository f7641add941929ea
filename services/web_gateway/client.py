"""The gateway's gRPC client of the order-api: balanced over replicas, a deadline on every call.

The target is any gRPC target (`order-api:50051`, `dns:///order-api:50051`,
`ipv4:10.0.0.1:50051,10.0.0.2:50051`); the service config balances calls
`round_robin` over every address it resolves to whose gRPC health service says
OrderService is SERVING (a stopping replica says NOT_SERVING before it stops,
`services.order_api.draining`; a replica that does not implement the health
service counts as serving), and gRPC itself retries
GetOrder, ListOrders and the health check on another replica when they fail
with UNAVAILABLE. CreateOrder is repeated only when it carries an idempotency
key (the order-api stores one order per key), by this client, within the same
deadline; without a key it is never repeated: a replica that died before
answering may have committed it.

The channel is created with `grpc.insecure_channel` (or `grpc.secure_channel`
with credentials, `services.web_gateway.tls`) looked up on the module at call
time, because the OpenTelemetry launcher instruments gRPC clients by replacing
those attributes. Reconnection backoff is capped at one second so the
gateway recovers within about a second of an order-api coming back; while every
replica is down, calls fail fast with UNAVAILABLE (they do not wait for a connection).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name
# The mirror image of the order-api's limits: it receives at most 1 MiB and sends at most 4 MiB.
MAX_SEND_BYTES = 1024 * 1024
MAX_RECEIVE_BYTES = 4 * 1024 * 1024
MAX_HEALTH_CHECK_SECONDS = 1.0

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_SEND_BYTES),
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # A restarted order-api may come back at a new address (a container's IP); the default
    # allows one DNS re-resolution every 30 s.
    ("grpc.dns_min_time_between_resolutions_ms", 1000),
)

# Retries happen within the call's deadline; three attempts can reach three replicas.
RETRY_ATTEMPTS = 3
RETRY_POLICY = {
    "maxAttempts": RETRY_ATTEMPTS,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
# Methods that are always safe to repeat: they change nothing.
_READ_METHODS = [
    {"service": SERVICE_NAME, "method": "GetOrder"},
    {"service": SERVICE_NAME, "method": "ListOrders"},
    {"service": "grpc.health.v1.Health", "method": "Check"},
]
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        # Client-side health checking (gRFC A17): a replica whose health service says
        # OrderService is not SERVING (stopping, or its database unreachable) gets no calls.
        "healthCheckConfig": {"serviceName": SERVICE_NAME},
        "methodConfig": [{"name": _READ_METHODS, "retryPolicy": RETRY_POLICY}],
    }
)
BALANCED_CHANNEL_OPTIONS: tuple[tuple[str, int | str], ...] = (
    *CHANNEL_OPTIONS,
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
)
_CREATE_RETRY_PAUSE_SECONDS = 0.05
# How often the TLS files are looked at for a rotation (a stat per file).
CREDENTIALS_CHECK_SECONDS = 1.0

logger = logging.getLogger(__name__)


class CredentialsSource(Protocol):
    """Channel credentials that may be replaced (`services.web_gateway.tls`)."""

    def current(self) -> grpc.ChannelCredentials:
        """The credentials to use now."""

    def changed(self) -> grpc.ChannelCredentials | None:
        """New credentials if they changed since the last call, else None."""


@dataclass(frozen=True)
class _Connection:
    """A channel (`raw`, and wrapped with its interceptors) and the stubs on it."""

    raw: grpc.Channel
    channel: grpc.Channel
    orders: orders_pb2_grpc.OrderServiceStub
    health: health_pb2_grpc.HealthStub


class OrderClient:
    """Calls OrderService and the gRPC health service of one order-api target (any replicas).

    `channel` is the channel the calls go through, with its interceptors. With
    `credentials` the channel is TLS; `server_name` is then the name the server's
    certificate must carry when the target does not say it. When the credentials
    change (rotated files), new calls go through a new channel and the previous
    one closes once the calls it carries have had their deadline.
    """

    def __init__(
        self,
        target: str,
        timeout: float,
        *,
        wrap_channel: Callable[[grpc.Channel], grpc.Channel] | None = None,
        credentials: CredentialsSource | None = None,
        server_name: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._wrap_channel = wrap_channel
        self._credentials = credentials
        self._options: tuple[tuple[str, int | str], ...] = BALANCED_CHANNEL_OPTIONS
        if server_name:
            self._options = (*self._options, ("grpc.ssl_target_name_override", server_name))
        self._lock = threading.Lock()
        self._next_check = time.monotonic() + CREDENTIALS_CHECK_SECONDS
        self._connection = self._connect(credentials.current() if credentials else None)

    @property
    def channel(self) -> grpc.Channel:
        """The channel new calls go through, with its interceptors."""
        return self._connection.channel

    def _connect(self, credentials: grpc.ChannelCredentials | None) -> _Connection:
        if credentials is None:
            raw = grpc.insecure_channel(self.target, options=self._options)
        else:
            raw = grpc.secure_channel(self.target, credentials, options=self._options)
        channel = self._wrap_channel(raw) if self._wrap_channel else raw
        return _Connection(
            raw,
            channel,
            orders_pb2_grpc.OrderServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )

    def _current(self) -> _Connection:
        """The connection for a new call, renewed first if the credentials changed."""
        if self._credentials is None or time.monotonic() < self._next_check:
            return self._connection
        with self._lock:
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + CREDENTIALS_CHECK_SECONDS
                credentials = self._credentials.changed()
                if credentials is not None:
                    previous, self._connection = self._connection, self._connect(credentials)
                    logger.info("order-api channel: new TLS credentials from the rotated files")
                    closing = threading.Timer(self.timeout + 1.0, previous.raw.close)
                    closing.daemon = True
                    closing.start()
        return self._connection

    def create_order(
        self, request: orders_pb2.CreateOrderRequest
    ) -> orders_pb2.CreateOrderResponse:
        """Create an order (or return the one stored under the request's idempotency key).

        With an idempotency key, UNAVAILABLE is retried (on the next replica, by
        round_robin) within one deadline; without one, the call is made once.
        """
        if not request.idempotency_key:
            return self._current().orders.CreateOrder(request, timeout=self.timeout)
        deadline = time.monotonic() + self.timeout
        attempt = 1
        while True:
            try:
                return self._current().orders.CreateOrder(
                    request, timeout=max(deadline - time.monotonic(), 0.001)
                )
            except grpc.RpcError as error:
                pause = _CREATE_RETRY_PAUSE_SECONDS * attempt
                code = error.code() if isinstance(error, grpc.Call) else None
                retry = code == grpc.StatusCode.UNAVAILABLE and attempt < RETRY_ATTEMPTS
                if not retry or time.monotonic() + pause >= deadline:
                    raise
            time.sleep(pause)
            attempt += 1

    def get_order(self, order_id: str) -> orders_pb2.Order:
        """Return the order with this id; NOT_FOUND raises grpc.RpcError."""
        request = orders_pb2.GetOrderRequest(id=order_id)
        return self._current().orders.GetOrder(request, timeout=self.timeout).order

    def list_orders(
        self, customer_id: str, page_size: int, page_token: str
    ) -> orders_pb2.ListOrdersResponse:
        """Return one page of orders, optionally of one customer."""
        request = orders_pb2.ListOrdersRequest(
            customer_id=customer_id, page_size=page_size, page_token=page_token
        )
        return self._current().orders.ListOrders(request, timeout=self.timeout)

    def check_health(self) -> bool:
        """Whether the order-api's health service says OrderService is SERVING."""
        request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        try:
            response = self._current().health.Check(
                request, timeout=min(self.timeout, MAX_HEALTH_CHECK_SECONDS)
            )
        except grpc.RpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._connection.raw.close()
