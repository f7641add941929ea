"""JSON ↔ protobuf for the REST API, with strict checks of the request shape.

The gateway checks only shape: a JSON object with exactly the known fields, each
of the right JSON type, integers that fit their protobuf fields, and at most
MAX_ITEMS items (so a huge list is rejected before it is converted). Whether an
order makes sense (non-empty ids, quantities from 1 up, prices not negative) is
the order-api's to decide. Every rejection is a 400 naming the field; messages
never repeat request data except field names that look like identifiers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from services.orders_contract import (
    DEFAULT_PAGE_SIZE,
    MAX_ITEMS,
    MAX_PAGE_SIZE,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
    ValidationError,
    check_identifier,
)
from services.proto.orders.v1 import orders_pb2
from services.web_gateway.errors import invalid_argument

ORDER_FIELDS = ("customer_id", "items")
ITEM_FIELDS = ("sku", "quantity", "unit_price_cents")
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_STATUS_PREFIX = "ORDER_STATUS_"
_SAFE_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class _DuplicateFieldError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def create_order_request(body: bytes, idempotency_key: str = "") -> orders_pb2.CreateOrderRequest:
    """Parse a POST /orders body; raise ApiError (400) naming the first field that is wrong."""
    document = _parse_json(body)
    if not isinstance(document, dict):
        raise invalid_argument("body", f"must be a JSON object, got {_json_type(document)}")
    _reject_unknown_fields(document, ORDER_FIELDS, "body")
    return orders_pb2.CreateOrderRequest(
        customer_id=_string(document, "customer_id", "customer_id"),
        items=_items(document),
        idempotency_key=idempotency_key,
    )


def idempotency_key(header: str | None) -> str:
    """Check the optional Idempotency-Key header: 1 to 64 of A-Z a-z 0-9 . _ : -."""
    if header is None:
        return ""
    try:
        check_identifier(IDEMPOTENCY_KEY_HEADER, header)
    except ValidationError as error:
        raise invalid_argument(error.field, error.reason) from None
    return header


def is_order_id(text: str) -> bool:
    """Whether `text` could be an order id at all (the order-api's identifier rules)."""
    try:
        check_identifier("id", text)
    except ValidationError:
        return False
    return True


def page_size(text: str | None) -> int:
    """Parse the page_size query parameter: absent means the default, else 1 to MAX_PAGE_SIZE."""
    if text is None:
        return DEFAULT_PAGE_SIZE
    digits_ok = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PAGE_SIZE))
    if not digits_ok or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise invalid_argument("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(text)


def order_to_json(order: orders_pb2.Order) -> dict[str, object]:
    """The REST representation of an order."""
    status = orders_pb2.OrderStatus.Name(order.status).removeprefix(_STATUS_PREFIX)
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "items": [
            {"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}
            for i in order.items
        ],
        "total_cents": order.total_cents,
        "status": status,
        "created_at": order.created_at.ToJsonString(),
    }


def orders_page_to_json(response: orders_pb2.ListOrdersResponse) -> dict[str, object]:
    """The REST representation of one page of a listing (`next_page_token` null on the last)."""
    return {
        "orders": [order_to_json(order) for order in response.orders],
        "next_page_token": response.next_page_token or None,
    }


def _parse_json(body: bytes) -> object:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_argument("body", "must be UTF-8 encoded JSON") from None
    try:
        return json.loads(
            text, object_pairs_hook=_object_without_duplicates, parse_constant=_not_json
        )
    except _DuplicateFieldError as error:
        raise invalid_argument("body", f"duplicate field {_field_name(error.name)}") from None
    except RecursionError:
        raise invalid_argument("body", "is nested too deeply") from None
    except ValueError:
        raise invalid_argument("body", "is not valid JSON") from None


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = {}
    for name, value in pairs:
        if name in document:
            raise _DuplicateFieldError(name)
        document[name] = value
    return document


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")  # json.loads would accept NaN and Infinity


def _reject_unknown_fields(document: Mapping[str, object], known: tuple[str, ...], at: str) -> None:
    unknown = sorted(set(document) - set(known))
    if unknown:
        expected = ", ".join(known)
        raise invalid_argument(at, f"unknown field {_field_name(unknown[0])} (expected {expected})")


def _items(document: Mapping[str, object]) -> list[orders_pb2.OrderItem]:
    items = _required(document, "items", "items")
    if not isinstance(items, list):
        raise invalid_argument("items", f"must be an array, got {_json_type(items)}")
    if not items:
        raise invalid_argument("items", "must contain at least one item")
    if len(items) > MAX_ITEMS:
        raise invalid_argument("items", f"must contain at most {MAX_ITEMS} items")
    return [_item(item, f"items[{index}]") for index, item in enumerate(items)]


def _item(item: object, at: str) -> orders_pb2.OrderItem:
    if not isinstance(item, dict):
        raise invalid_argument(at, f"must be an object, got {_json_type(item)}")
    _reject_unknown_fields(item, ITEM_FIELDS, at)
    return orders_pb2.OrderItem(
        sku=_string(item, "sku", f"{at}.sku"),
        quantity=_integer(item, "quantity", f"{at}.quantity", bits=32, low=1, high=MAX_QUANTITY),
        unit_price_cents=_integer(
            item,
            "unit_price_cents",
            f"{at}.unit_price_cents",
            bits=64,
            low=0,
            high=MAX_UNIT_PRICE_CENTS,
        ),
    )


def _required(document: Mapping[str, object], name: str, field: str) -> object:
    if name not in document:
        raise invalid_argument(field, "is required")
    return document[name]


def _string(document: Mapping[str, object], name: str, field: str) -> str:
    value = _required(document, name, field)
    if not isinstance(value, str):
        raise invalid_argument(field, f"must be a string, got {_json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800"
        raise invalid_argument(field, "must be valid Unicode text") from None
    return value


def _integer(
    document: Mapping[str, object], name: str, field: str, *, bits: int, low: int, high: int
) -> int:
    """An integer that fits a signed `bits`-bit protobuf field.

    One that does not gets the order-api's words for the allowed range, so the caller
    sees the same message whichever service rejected the value.
    """
    value = _required(document, name, field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_argument(field, f"must be an integer, got {_json_type(value)}")
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise invalid_argument(field, f"must be between {low} and {high}")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _field_name(name: str) -> str:
    return repr(name) if _SAFE_FIELD_NAME.fullmatch(name) else "(name not shown)"
