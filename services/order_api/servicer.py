"""The OrderService implementation: requests in, store calls, responses or gRPC errors out.

Domain errors map to status codes here and only here: ValidationError →
INVALID_ARGUMENT, unknown id → NOT_FOUND, reused idempotency key →
ALREADY_EXISTS, database unreachable → UNAVAILABLE (safe to retry), anything
unexpected → INTERNAL with a generic message (the details go to the log, never
to the caller).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.order_api import validation
from services.order_api.faults import FaultPlan
from services.order_api.store import (
    IdempotencyConflictError,
    Item,
    Order,
    OrderStore,
    StoreUnavailableError,
)
from services.orders_contract import ValidationError, check_identifier
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc

logger = logging.getLogger(__name__)

_TOKEN_PREFIX = b"v1:"
# The largest SQLite INTEGER; a token past it would overflow the store's query.
_MAX_SEQ = 2**63 - 1
_STATUS_BY_NAME = {"CREATED": orders_pb2.ORDER_STATUS_CREATED}


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    """Serves OrderService from an OrderStore."""

    def __init__(
        self,
        store: OrderStore,
        *,
        faults: FaultPlan | None = None,
        on_order_created: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._faults = faults or FaultPlan()
        self._on_order_created = on_order_created or (lambda: None)

    def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: grpc.ServicerContext
    ) -> orders_pb2.CreateOrderResponse:
        self._faults.apply("CreateOrder", context)
        with _status_errors(context):
            validation.check_create_request(request)
            items = tuple(Item(i.sku, i.quantity, i.unit_price_cents) for i in request.items)
            order, created = self._store.create(
                request.customer_id, items, idempotency_key=request.idempotency_key
            )
        if created:
            self._on_order_created()
        return orders_pb2.CreateOrderResponse(order=to_proto(order), created=created)

    def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> orders_pb2.GetOrderResponse:
        self._faults.apply("GetOrder", context)
        with _status_errors(context):
            check_identifier("id", request.id)
            order = self._store.get(request.id)
        if order is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"order {request.id} not found")
        return orders_pb2.GetOrderResponse(order=to_proto(order))

    def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> orders_pb2.ListOrdersResponse:
        self._faults.apply("ListOrders", context)
        with _status_errors(context):
            check_identifier("customer_id", request.customer_id, required=False)
            page_size = validation.check_page_size(request.page_size)
            after_seq = decode_page_token(request.page_token)
            orders, more = self._store.list(request.customer_id, page_size, after_seq)
        next_token = encode_page_token(orders[-1].seq) if more else ""
        return orders_pb2.ListOrdersResponse(
            orders=[to_proto(order) for order in orders], next_page_token=next_token
        )


@contextmanager
def _status_errors(context: grpc.ServicerContext) -> Iterator[None]:
    """Turn domain exceptions raised inside the block into gRPC status codes."""
    try:
        yield
    except ValidationError as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    except IdempotencyConflictError:
        context.abort(
            grpc.StatusCode.ALREADY_EXISTS,
            "idempotency_key: already used for a different order",
        )
    except StoreUnavailableError as error:
        logger.warning("database unavailable: %s", error)
        context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable")
    except Exception:
        logger.exception("unexpected error while serving an RPC")
        context.abort(grpc.StatusCode.INTERNAL, "internal error")


def to_proto(order: Order) -> orders_pb2.Order:
    """Convert a stored order to its protobuf message."""
    created_at = Timestamp()
    created_at.FromMicroseconds(order.created_at_us)
    return orders_pb2.Order(
        id=order.id,
        customer_id=order.customer_id,
        items=[
            orders_pb2.OrderItem(
                sku=i.sku, quantity=i.quantity, unit_price_cents=i.unit_price_cents
            )
            for i in order.items
        ],
        total_cents=order.total_cents,
        status=_STATUS_BY_NAME.get(order.status, orders_pb2.ORDER_STATUS_UNSPECIFIED),
        created_at=created_at,
    )


def encode_page_token(after_seq: int) -> str:
    """Return the opaque token that resumes a listing after `after_seq`."""
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + str(after_seq).encode()).decode()


def decode_page_token(token: str) -> int:
    """Return the position a page token resumes after (0 for no token); raise ValidationError."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if (
        len(token) > 64
        or not raw.startswith(_TOKEN_PREFIX)
        or not raw[3:].isdigit()
        or int(raw[3:]) > _MAX_SEQ
    ):
        raise ValidationError("page_token", "is not a token returned by ListOrders")
    return int(raw[3:])
