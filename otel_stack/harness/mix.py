"""Request mixes for the web-gateway: what a realistic (or an abusive) client sends.

The load generator's mix (`WEIGHTS`) is mostly reads of orders created
earlier, some new orders, some listings by customer, and a few mistakes:
reads of ids that do not exist (404) and invalid order bodies (400).
`ABUSIVE_WEIGHTS` adds malformed requests of every kind the gateway must
refuse by itself. Each request carries the gateway's route template
(`/orders/<order_id>`), the label its metrics use, the status it must get
while the order-api works, and the order-api call it causes with that call's
final code, so results can be compared with `http_requests_total` and
`grpc_requests_total` exactly.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

ORDERS_ROUTE = "/orders"
ORDER_ROUTE = "/orders/<order_id>"
UNMATCHED_ROUTE = "unmatched"
_JSON = {"Content-Type": "application/json"}
CUSTOMERS = tuple(f"cust-{number:03d}" for number in range(1, 21))
KNOWN_IDS_KEPT = 1000
# A valid POST /orders document, for callers that need one order.
EXAMPLE_ORDER: dict[str, object] = {
    "customer_id": "c-1",
    "items": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 250}],
}


class Kind(StrEnum):
    """What a request is meant to exercise."""

    GET_ORDER = "get order"
    CREATE_ORDER = "create order"
    LIST_ORDERS = "list orders"
    GET_UNKNOWN = "get unknown order"
    CREATE_INVALID = "create invalid order"
    GET_MALFORMED_ID = "get malformed id"
    CREATE_MALFORMED_JSON = "create malformed JSON"
    CREATE_WRONG_TYPE = "create with a wrong type"
    UNMATCHED_PATH = "unmatched path"
    WRONG_METHOD = "wrong method"
    WRONG_MEDIA_TYPE = "wrong media type"


# Relative weights of each kind in the mix.
WEIGHTS: dict[Kind, int] = {
    Kind.GET_ORDER: 60,
    Kind.CREATE_ORDER: 15,
    Kind.LIST_ORDERS: 15,
    Kind.GET_UNKNOWN: 5,
    Kind.CREATE_INVALID: 5,
}

# Every kind, malformed requests included, for reliability tests with exact accounting.
ABUSIVE_WEIGHTS: dict[Kind, int] = {
    Kind.CREATE_ORDER: 20,
    Kind.GET_ORDER: 20,
    Kind.LIST_ORDERS: 14,
    Kind.GET_UNKNOWN: 10,
    Kind.GET_MALFORMED_ID: 5,
    Kind.CREATE_MALFORMED_JSON: 8,
    Kind.CREATE_WRONG_TYPE: 6,
    Kind.CREATE_INVALID: 8,
    Kind.UNMATCHED_PATH: 5,
    Kind.WRONG_METHOD: 2,
    Kind.WRONG_MEDIA_TYPE: 2,
}

# (method, final gRPC code) of an order-api call, as grpc_requests_total labels it.
RpcLabels = tuple[str, str]
_INVALID_ARGUMENT: RpcLabels = ("CreateOrder", "INVALID_ARGUMENT")
# Bodies the gateway forwards and the order-api refuses, or the gateway refuses by itself.
_INVALID_BODIES: tuple[tuple[dict[str, object], RpcLabels | None], ...] = (
    ({"customer_id": "cust-001", "items": []}, None),
    (
        {
            "customer_id": "cust-001",
            "items": [{"sku": "sku-1", "quantity": 0, "unit_price_cents": 1}],
        },
        _INVALID_ARGUMENT,
    ),
    ({"items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 100}]}, None),
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
    status: int = 200  # the gateway's answer while the order-api works
    rpc: RpcLabels | None = None  # the order-api call it causes, with its final code


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


def next_request(
    rng: random.Random,
    known: KnownOrders,
    weights: Mapping[Kind, int] = WEIGHTS,
    customers: Sequence[str] = CUSTOMERS,
) -> Request:
    """Draw the next request of the mix (a read turns into a create until an order exists)."""
    kind = rng.choices(list(weights), weights=list(weights.values()))[0]
    if kind is Kind.GET_ORDER:
        order_id = known.pick(rng)
        if order_id is not None:
            return Request(kind, "GET", f"/orders/{order_id}", ORDER_ROUTE, rpc=("GetOrder", "OK"))
        kind = Kind.CREATE_ORDER
    if kind is Kind.CREATE_ORDER:
        document = _valid_order(rng, customers)
        return _json_request(kind, document, 201, ("CreateOrder", "OK"), uuid.uuid4().hex)
    if kind is Kind.LIST_ORDERS:
        path = f"/orders?customer_id={rng.choice(customers)}&page_size={rng.choice((5, 10, 20))}"
        return Request(kind, "GET", path, ORDERS_ROUTE, rpc=("ListOrders", "OK"))
    if kind is Kind.GET_UNKNOWN:
        path = f"/orders/unknown-{rng.getrandbits(64):016x}"
        return Request(kind, "GET", path, ORDER_ROUTE, status=404, rpc=("GetOrder", "NOT_FOUND"))
    if kind is Kind.CREATE_INVALID:
        document, rpc = rng.choice(_INVALID_BODIES)
        return _json_request(kind, document, 400, rpc)
    return _malformed(kind, rng)


def _malformed(kind: Kind, rng: random.Random) -> Request:
    """A request the gateway refuses by itself, without calling the order-api."""
    if kind is Kind.GET_MALFORMED_ID:
        # Longer than any id can be: the gateway answers 404 without asking the order-api.
        return Request(kind, "GET", "/orders/" + "x" * 65, ORDER_ROUTE, status=404)
    if kind is Kind.CREATE_MALFORMED_JSON:
        body = b'{"customer_id": "c", "items": ['
        return Request(kind, "POST", ORDERS_ROUTE, ORDERS_ROUTE, body, dict(_JSON), status=400)
    if kind is Kind.CREATE_WRONG_TYPE:
        return _json_request(
            kind, {"customer_id": "c", "items": [{"sku": "s", "quantity": "2"}]}, 400
        )
    if kind is Kind.UNMATCHED_PATH:
        return Request(kind, "GET", f"/no/such/{rng.randrange(1000)}", UNMATCHED_ROUTE, status=404)
    if kind is Kind.WRONG_METHOD:
        # No rule matches a method a route does not allow, so the route label is "unmatched".
        return Request(kind, "DELETE", ORDERS_ROUTE, UNMATCHED_ROUTE, status=405)
    if kind is Kind.WRONG_MEDIA_TYPE:
        headers = {"Content-Type": "text/plain"}
        return Request(kind, "POST", ORDERS_ROUTE, ORDERS_ROUTE, b"x", headers, status=415)
    raise ValueError(f"no request for kind {kind!r}")


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


def _valid_order(rng: random.Random, customers: Sequence[str]) -> dict[str, object]:
    items = [
        {
            "sku": f"sku-{rng.randint(1, 500):04d}",
            "quantity": rng.randint(1, 5),
            "unit_price_cents": rng.randint(100, 20_000),
        }
        for _ in range(rng.randint(1, 3))
    ]
    return {"customer_id": rng.choice(customers), "items": items}


def _json_request(
    kind: Kind,
    document: dict[str, object],
    status: int,
    rpc: RpcLabels | None = None,
    idempotency_key: str | None = None,
) -> Request:
    headers = dict(_JSON)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    body = json.dumps(document).encode()
    return Request(kind, "POST", ORDERS_ROUTE, ORDERS_ROUTE, body, headers, status, rpc)
