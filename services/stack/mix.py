"""The request mix of the load generator: what a realistic client of the web-gateway sends.

Mostly reads of orders it created earlier, some new orders, some listings by
customer, and a few mistakes: reads of ids that do not exist (404) and
invalid order bodies (400). Each request carries the gateway's route template
(`/orders/<order_id>`), the label its metrics use, so results can be compared
with `http_requests_total` exactly.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

ORDERS_ROUTE = "/orders"
ORDER_ROUTE = "/orders/<order_id>"
CUSTOMERS = tuple(f"cust-{number:03d}" for number in range(1, 21))
KNOWN_IDS_KEPT = 1000


class Kind(StrEnum):
    """What a request is meant to exercise."""

    GET_ORDER = "get order"
    CREATE_ORDER = "create order"
    LIST_ORDERS = "list orders"
    GET_UNKNOWN = "get unknown order"
    CREATE_INVALID = "create invalid order"


# Relative weights of each kind in the mix.
WEIGHTS: dict[Kind, int] = {
    Kind.GET_ORDER: 60,
    Kind.CREATE_ORDER: 15,
    Kind.LIST_ORDERS: 15,
    Kind.GET_UNKNOWN: 5,
    Kind.CREATE_INVALID: 5,
}

_INVALID_BODIES: tuple[dict[str, object], ...] = (
    {"customer_id": "cust-001", "items": []},
    {"customer_id": "cust-001", "items": [{"sku": "sku-1", "quantity": 0, "unit_price_cents": 1}]},
    {"items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 100}]},
)


@dataclass(frozen=True)
class Request:
    """One HTTP request to send, with the route template the gateway will label it with."""

    kind: Kind
    method: str
    path: str
    route: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class KnownOrders:
    """Ids of orders created so far (the most recent ones), shared by all workers."""

    def __init__(self) -> None:
        self._ids: deque[str] = deque(maxlen=KNOWN_IDS_KEPT)
        self._lock = threading.Lock()

    def add(self, order_id: str) -> None:
        """Remember a created order."""
        with self._lock:
            self._ids.append(order_id)

    def pick(self, rng: random.Random) -> str | None:
        """A random known id, or None before any order was created."""
        with self._lock:
            return rng.choice(self._ids) if self._ids else None


def next_request(rng: random.Random, known: KnownOrders) -> Request:
    """Draw the next request of the mix (a read turns into a create until an order exists)."""
    kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if kind is Kind.GET_ORDER:
        order_id = known.pick(rng)
        if order_id is not None:
            return Request(kind, "GET", f"/orders/{order_id}", ORDER_ROUTE)
        kind = Kind.CREATE_ORDER
    if kind is Kind.CREATE_ORDER:
        return _json_request(kind, _valid_order(rng), idempotency_key=uuid.uuid4().hex)
    if kind is Kind.LIST_ORDERS:
        path = f"/orders?customer_id={rng.choice(CUSTOMERS)}&page_size={rng.choice((5, 10, 20))}"
        return Request(kind, "GET", path, ORDERS_ROUTE)
    if kind is Kind.GET_UNKNOWN:
        return Request(kind, "GET", f"/orders/unknown-{rng.getrandbits(64):016x}", ORDER_ROUTE)
    return _json_request(kind, rng.choice(_INVALID_BODIES))


def created_order_id(body: bytes) -> str | None:
    """The id in a 201 response to POST /orders (`{"id": ...}` or `{"order": {"id": ...}}`)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    order = document.get("order", document)
    order_id = order.get("id") if isinstance(order, dict) else None
    return order_id if isinstance(order_id, str) and order_id else None


def _valid_order(rng: random.Random) -> dict[str, object]:
    items = [
        {
            "sku": f"sku-{rng.randint(1, 500):04d}",
            "quantity": rng.randint(1, 5),
            "unit_price_cents": rng.randint(100, 20_000),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return {"customer_id": rng.choice(CUSTOMERS), "items": items}


def _json_request(
    kind: Kind, document: dict[str, object], *, idempotency_key: str | None = None
) -> Request:
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return Request(kind, "POST", ORDERS_ROUTE, ORDERS_ROUTE, json.dumps(document).encode(), headers)
