"""Helpers shared by the order-api tests: an in-process server, health checks, requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.order_api.faults import FaultPlan
from services.order_api.server import create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store import OrderStore
from services.order_api.store_sqlite import SqliteOrderStore
from services.orders_contract import (
    MAX_ID_LENGTH,
    MAX_ITEMS,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
)
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc


@dataclass
class RunningOrderApi:
    """An order-api server started in this process, with a stub connected to it."""

    server: grpc.Server
    store: OrderStore
    channel: grpc.Channel
    stub: orders_pb2_grpc.OrderServiceStub
    port: int
    _stopped: bool = field(default=False, repr=False)

    @property
    def target(self) -> str:
        """The address clients dial."""
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Close the channel, stop the server (no grace) and close the store; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.channel.close()
        self.server.stop(None).wait()
        self.store.close()


def start_order_api(
    db_path: Path,
    *,
    store: OrderStore | None = None,
    faults: FaultPlan | None = None,
    port: int = 0,
    servicer: Callable[[OrderStore], OrderServicer] | None = None,
) -> RunningOrderApi:
    """Start a server on loopback over the SQLite file at `db_path` (or `store`).

    `port` 0 picks a free port; `servicer` builds a custom servicer from the store.
    """
    store = store if store is not None else SqliteOrderStore(db_path)
    handler = OrderServicer(store, faults=faults) if servicer is None else servicer(store)
    server, port = create_server(f"127.0.0.1:{port}", servicer=handler)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    return RunningOrderApi(server, store, channel, stub, port)


# The `start_server` fixture: start_server(store=..., faults=...) -> RunningOrderApi.
StartOrderApi = Callable[..., RunningOrderApi]


def health_status(channel: grpc.Channel, service: str = "", timeout: float = 0.5) -> int | None:
    """The health service's status for `service`, or None when the call fails."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError:
        return None
    return int(response.status)


def item(
    sku: str = "sku-1", quantity: int = 1, unit_price_cents: int = 100
) -> orders_pb2.OrderItem:
    """One order line as a protobuf message."""
    return orders_pb2.OrderItem(sku=sku, quantity=quantity, unit_price_cents=unit_price_cents)


def create_request(
    customer_id: str = "customer-1",
    items: list[orders_pb2.OrderItem] | None = None,
    idempotency_key: str = "",
) -> orders_pb2.CreateOrderRequest:
    """A valid CreateOrder request unless the arguments say otherwise."""
    return orders_pb2.CreateOrderRequest(
        customer_id=customer_id,
        items=[item()] if items is None else items,
        idempotency_key=idempotency_key,
    )


TOO_LONG = "x" * (MAX_ID_LENGTH + 1)

# (case id, a CreateOrder request breaking exactly one rule, the field it must be blamed on)
INVALID_CREATE_REQUESTS: list[tuple[str, orders_pb2.CreateOrderRequest, str]] = [
    ("empty customer", create_request(customer_id=""), "customer_id"),
    ("long customer", create_request(customer_id=TOO_LONG), "customer_id"),
    ("customer with space", create_request(customer_id="bad customer"), "customer_id"),
    ("customer with slash", create_request(customer_id="a/b"), "customer_id"),
    ("customer non-ascii", create_request(customer_id="café"), "customer_id"),
    ("customer newline", create_request(customer_id="abc\n"), "customer_id"),
    ("long idempotency key", create_request(idempotency_key=TOO_LONG), "idempotency_key"),
    ("idempotency key with space", create_request(idempotency_key="a b"), "idempotency_key"),
    ("no items", create_request(items=[]), "items"),
    ("too many items", create_request(items=[item()] * (MAX_ITEMS + 1)), "items"),
    ("empty sku", create_request(items=[item(sku="")]), "items[0].sku"),
    ("long sku", create_request(items=[item(), item(sku=TOO_LONG)]), "items[1].sku"),
    ("sku with bad characters", create_request(items=[item(sku="sku;drop")]), "items[0].sku"),
    ("zero quantity", create_request(items=[item(quantity=0)]), "items[0].quantity"),
    ("negative quantity", create_request(items=[item(quantity=-1)]), "items[0].quantity"),
    (
        "quantity over max",
        create_request(items=[item(quantity=MAX_QUANTITY + 1)]),
        "items[0].quantity",
    ),
    (
        "negative price",
        create_request(items=[item(unit_price_cents=-1)]),
        "items[0].unit_price_cents",
    ),
    (
        "price over max",
        create_request(items=[item(unit_price_cents=MAX_UNIT_PRICE_CENTS + 1)]),
        "items[0].unit_price_cents",
    ),
]
