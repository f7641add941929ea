"""The gateway's gRPC client of the order-api: balanced over replicas, a deadline on every call.

The target is any gRPC target (`order-api:50051`, `dns:///order-api:50051`,
`ipv4:10.0.0.1:50051,10.0.0.2:50051`); the service config balances calls
`round_robin` over every address it resolves to and retries a call that failed
with UNAVAILABLE on another replica — only calls that are safe to repeat:
GetOrder, ListOrders, the health check, and CreateOrder carrying an
idempotency key (the order-api stores one order per key). A CreateOrder
without a key goes through a second channel without retries: it may have been
committed by a replica that died before answering.

Channels are created with `grpc.insecure_channel` looked up on the module at
call time, because the OpenTelemetry launcher instruments gRPC clients by
replacing that attribute. Reconnection backoff is capped at one second so the
gateway recovers within about a second of an order-api coming back; while every
replica is down, calls fail fast with UNAVAILABLE (they do not wait for a connection).
"""

from __future__ import annotations

import json
from collections.abc import Callable

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

# Retries happen within the call's deadline; three attempts reach a third replica.
RETRY_ATTEMPTS = 3
RETRY_POLICY = {
    "maxAttempts": RETRY_ATTEMPTS,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
_SAFE_METHODS = [
    {"service": SERVICE_NAME, "method": "GetOrder"},
    {"service": SERVICE_NAME, "method": "ListOrders"},
    {"service": SERVICE_NAME, "method": "CreateOrder"},
    {"service": "grpc.health.v1.Health", "method": "Check"},
]


def service_config(*, retry: bool) -> str:
    """The channel's service config: round_robin, and (with `retry`) retries of safe methods."""
    config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if retry:
        config["methodConfig"] = [{"name": _SAFE_METHODS, "retryPolicy": RETRY_POLICY}]
    return json.dumps(config)


def channel_options(*, retry: bool) -> tuple[tuple[str, int | str], ...]:
    """Options of one channel to the order-api (limits, backoff, balancing, retries)."""
    return (
        *CHANNEL_OPTIONS,
        ("grpc.service_config", service_config(retry=retry)),
        ("grpc.enable_retries", 1 if retry else 0),
    )


class OrderClient:
    """Calls OrderService and the gRPC health service of one order-api target (any replicas)."""

    def __init__(
        self,
        target: str,
        timeout: float,
        *,
        wrap_channel: Callable[[grpc.Channel], grpc.Channel] | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = grpc.insecure_channel(target, options=channel_options(retry=True))
        # Only CreateOrder without an idempotency key uses this one.
        self._once_channel = grpc.insecure_channel(target, options=channel_options(retry=False))
        wrap = wrap_channel or (lambda channel: channel)
        self._orders = orders_pb2_grpc.OrderServiceStub(wrap(self._channel))
        self._orders_once = orders_pb2_grpc.OrderServiceStub(wrap(self._once_channel))
        self._health = health_pb2_grpc.HealthStub(wrap(self._channel))

    def create_order(
        self, request: orders_pb2.CreateOrderRequest
    ) -> orders_pb2.CreateOrderResponse:
        """Create an order (or return the one stored under the request's idempotency key).

        Retried on another replica only when the request carries an idempotency key.
        """
        stub = self._orders if request.idempotency_key else self._orders_once
        return stub.CreateOrder(request, timeout=self.timeout)

    def get_order(self, order_id: str) -> orders_pb2.Order:
        """Return the order with this id; NOT_FOUND raises grpc.RpcError."""
        request = orders_pb2.GetOrderRequest(id=order_id)
        return self._orders.GetOrder(request, timeout=self.timeout).order

    def list_orders(
        self, customer_id: str, page_size: int, page_token: str
    ) -> orders_pb2.ListOrdersResponse:
        """Return one page of orders, optionally of one customer."""
        request = orders_pb2.ListOrdersRequest(
            customer_id=customer_id, page_size=page_size, page_token=page_token
        )
        return self._orders.ListOrders(request, timeout=self.timeout)

    def check_health(self) -> bool:
        """Whether the order-api's health service says OrderService is SERVING."""
        request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        try:
            response = self._health.Check(
                request, timeout=min(self.timeout, MAX_HEALTH_CHECK_SECONDS)
            )
        except grpc.RpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        """Close the channels; calls in flight are cancelled."""
        self._channel.close()
        self._once_channel.close()
