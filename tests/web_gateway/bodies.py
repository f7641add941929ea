"""Shared by the web-gateway tests: in-process order-api servers, valid and malformed bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from services.orders_contract import MAX_ITEMS
from tests.support.order_api import RunningOrderApi

# start_order_api(port=0, servicer=OrderServicer) -> OrderApi; `servicer` builds one from a store.
StartOrderApi = Callable[..., RunningOrderApi]
# make_gateway(target, timeout=2.0) -> a test client of a gateway app calling `target`.
MakeGateway = Callable[..., FlaskClient]


def error_of(response: TestResponse) -> dict[str, Any]:
    """The `error` object of a JSON error answer, checked to have exactly the documented shape."""
    assert response.content_type == "application/json"
    document = response.get_json()
    assert isinstance(document, dict)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message"}
    error: dict[str, Any] = document["error"]
    return error


ITEM: dict[str, Any] = {"sku": "sku-1", "quantity": 2, "unit_price_cents": 150}


def order(**fields: object) -> dict[str, object]:
    """A POST /orders document: a valid order unless `fields` override or add some."""
    document: dict[str, object] = {"customer_id": "customer-1", "items": [ITEM]}
    document.update(fields)
    return document


def body(**fields: object) -> bytes:
    """`order(**fields)` as JSON bytes."""
    return json.dumps(order(**fields)).encode()


def with_item(**fields: object) -> bytes:
    """A body whose only item is ITEM with `fields` overridden."""
    return body(items=[{**ITEM, **fields}])


def without(name: str) -> bytes:
    """A body without the top-level field `name`."""
    return json.dumps({k: v for k, v in order().items() if k != name}).encode()


def without_item_field(name: str) -> bytes:
    """A body whose only item lacks `name`."""
    return body(items=[{k: v for k, v in ITEM.items() if k != name}])


def _case(case: str, raw: bytes, message: str) -> object:
    return pytest.param(raw, message, id=case)


# (body, the start of the 400's message: the field blamed and why), one per malformation.
MALFORMED_BODIES = [
    _case("empty body", b"", "body: is not valid JSON"),
    _case("not JSON", b"customer_id=c-1", "body: is not valid JSON"),
    _case("truncated JSON", body()[:-5], "body: is not valid JSON"),
    _case("invalid UTF-8", b'{"customer_id": "\xff\xfe"}', "body: must be UTF-8 encoded JSON"),
    _case("NaN", b'{"customer_id": NaN}', "body: is not valid JSON"),
    _case("deeply nested", b"[" * 30_000 + b"]" * 30_000, "body: is nested too deeply"),
    _case("array", b"[]", "body: must be a JSON object, got array"),
    _case("null", b"null", "body: must be a JSON object, got null"),
    _case("string", b'"order"', "body: must be a JSON object, got string"),
    _case("unknown field", body(colour="red"), "body: unknown field 'colour'"),
    _case("unknown odd field", body(**{"<x>": 1}), "body: unknown field (name not shown)"),
    _case("duplicate field", b'{"customer_id": "a", "customer_id": "b"}', "body: duplicate field"),
    _case("no customer_id", without("customer_id"), "customer_id: is required"),
    _case("null customer_id", body(customer_id=None), "customer_id: must be a string, got null"),
    _case("number customer_id", body(customer_id=7), "customer_id: must be a string, got integer"),
    _case("lone surrogate", b'{"customer_id": "a\\ud800"}', "customer_id: must be valid Unicode"),
    _case("no items", without("items"), "items: is required"),
    _case("null items", body(items=None), "items: must be an array, got null"),
    _case("object items", body(items=ITEM), "items: must be an array, got object"),
    _case("empty items", body(items=[]), "items: must contain at least one item"),
    _case("too many items", body(items=[ITEM] * (MAX_ITEMS + 1)), "items: must contain at most"),
    _case("item not an object", body(items=["sku-1"]), "items[0]: must be an object, got string"),
    _case("unknown item field", with_item(price=1), "items[0]: unknown field 'price'"),
    _case("no sku", without_item_field("sku"), "items[0].sku: is required"),
    _case("null sku", with_item(sku=None), "items[0].sku: must be a string, got null"),
    _case("no quantity", without_item_field("quantity"), "items[0].quantity: is required"),
    _case("null quantity", with_item(quantity=None), "items[0].quantity: must be an integer"),
    _case("bool quantity", with_item(quantity=True), "items[0].quantity: must be an integer"),
    _case("float quantity", with_item(quantity=2.0), "items[0].quantity: must be an integer"),
    _case("string quantity", with_item(quantity="2"), "items[0].quantity: must be an integer"),
    _case("quantity past int32", with_item(quantity=2**31), "items[0].quantity: must be between"),
    _case("quantity under int32", with_item(quantity=-(2**31) - 1), "items[0].quantity: must be"),
    _case("bool price", with_item(unit_price_cents=False), "items[0].unit_price_cents: must be"),
    _case("price past int64", with_item(unit_price_cents=2**63), "items[0].unit_price_cents: must"),
    _case("huge price", with_item(unit_price_cents=10**400), "items[0].unit_price_cents: must"),
    _case("second item bad", body(items=[ITEM, {**ITEM, "sku": 1}]), "items[1].sku: must be a"),
]
