"""The gateway's gRPC client of the order-api: one channel, a deadline on every call.

The channel is created with `grpc.insecure_channel` looked up on the module at
call time, because the OpenTelemetry launcher instruments gRPC clients by
replacing that attribute. Reconnection backoff is capped at one second so the
gateway recovers within about a second of the order-api coming back; while it is
down, calls fail fast with UNAVAILABLE (they do not wait for the connection).
"""

from __future__ import annotations

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


class OrderClient:
    """Calls OrderService and the gRPC health service of one order-api target.

    `channel` is the channel the calls go through, with its interceptors.
    """

    def __init__(
        self,
        target: str,
        timeout: float,
        *,
        wrap_channel: Callable[[grpc.Channel], grpc.Channel] | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        channel = wrap_channel(self._channel) if wrap_channel else self._channel
        self.channel = channel
        self._orders = orders_pb2_grpc.OrderServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)

    def create_order(
        self, request: orders_pb2.CreateOrderRequest
    ) -> orders_pb2.CreateOrderResponse:
        """Create an order (or return the one stored under the request's idempotency key)."""
        return self._orders.CreateOrder(request, timeout=self.timeout)

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
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()
