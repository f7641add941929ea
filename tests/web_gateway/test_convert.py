"""JSON ↔ protobuf: the shape checks of POST /orders bodies and the JSON form of orders."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.orders_contract import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_QUANTITY
from services.proto.orders.v1 import orders_pb2
from services.web_gateway import convert
from services.web_gateway.errors import ApiError
from tests.web_gateway.bodies import ITEM, MALFORMED_BODIES, body, with_item


def rejection(raw: bytes) -> ApiError:
    """The ApiError that parsing `raw` raises."""
    with pytest.raises(ApiError) as raised:
        convert.create_order_request(raw)
    return raised.value


def test_valid_body_becomes_a_create_request() -> None:
    request = convert.create_order_request(body(), "key-1")

    assert request == orders_pb2.CreateOrderRequest(
        customer_id="customer-1",
        items=[orders_pb2.OrderItem(sku="sku-1", quantity=2, unit_price_cents=150)],
        idempotency_key="key-1",
    )


def test_largest_values_that_fit_the_protobuf_fields_are_passed_on() -> None:
    request = convert.create_order_request(
        with_item(quantity=2**31 - 1, unit_price_cents=2**63 - 1)
    )

    assert (request.items[0].quantity, request.items[0].unit_price_cents) == (2**31 - 1, 2**63 - 1)


@pytest.mark.parametrize(("raw", "message"), MALFORMED_BODIES)
def test_malformed_body_is_a_400_naming_the_field(raw: bytes, message: str) -> None:
    error = rejection(raw)

    assert (error.status, error.code) == (400, "invalid_argument")
    assert error.message.startswith(message), error.message


def test_float_is_named_as_a_number_with_a_fraction() -> None:
    assert rejection(with_item(quantity=2.0)).message == (
        "items[0].quantity: must be an integer, got a number with a fraction or exponent"
    )


def test_integer_past_its_protobuf_field_gets_the_order_apis_range_message() -> None:
    message = rejection(with_item(quantity=2**31)).message

    assert message == f"items[0].quantity: must be between 1 and {MAX_QUANTITY}"


def test_rejection_does_not_repeat_the_body() -> None:
    error = rejection(body(customer_id="<script>alert(1)</script>", items="<img src=x>"))

    assert "<" not in error.message


def test_business_rules_are_left_to_the_order_api() -> None:
    request = convert.create_order_request(body(customer_id="", items=[{**ITEM, "quantity": 0}]))

    assert (request.customer_id, request.items[0].quantity) == ("", 0)


@pytest.mark.parametrize("header", ["key-1", "a" * 64, "A.b_c:d-9"])
def test_valid_idempotency_key_is_passed_on(header: str) -> None:
    assert convert.idempotency_key(header) == header


def test_absent_idempotency_key_is_empty() -> None:
    assert convert.idempotency_key(None) == ""


@pytest.mark.parametrize("header", ["", "a" * 65, "has space", "slash/", "café"])
def test_bad_idempotency_key_is_a_400_naming_the_header(header: str) -> None:
    with pytest.raises(ApiError) as raised:
        convert.idempotency_key(header)

    assert raised.value.status == 400
    assert raised.value.message.startswith("Idempotency-Key: ")


@pytest.mark.parametrize(("text", "expected"), [(None, DEFAULT_PAGE_SIZE), ("1", 1), ("100", 100)])
def test_page_size_is_parsed(text: str | None, expected: int) -> None:
    assert convert.page_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", "0", str(MAX_PAGE_SIZE + 1), "-1", "+5", "1.5", "x", "²", "9" * 5000]
)
def test_bad_page_size_is_a_400(text: str) -> None:
    with pytest.raises(ApiError) as raised:
        convert.page_size(text)

    assert raised.value.status == 400
    assert raised.value.message == f"page_size: must be an integer from 1 to {MAX_PAGE_SIZE}"


@pytest.mark.parametrize(
    ("text", "expected"), [("abc123", True), ("x" * 65, False), ("a b", False)]
)
def test_is_order_id_follows_the_identifier_rules(text: str, expected: bool) -> None:
    assert convert.is_order_id(text) is expected


def stored_order(order_id: str = "order-1") -> orders_pb2.Order:
    """An order as the order-api returns it, created at 2024-05-06T07:08:09.5Z."""
    created_at = Timestamp()
    created_at.FromJsonString("2024-05-06T07:08:09.500Z")
    return orders_pb2.Order(
        id=order_id,
        customer_id="customer-1",
        items=[orders_pb2.OrderItem(sku="sku-1", quantity=2, unit_price_cents=150)],
        total_cents=300,
        status=orders_pb2.ORDER_STATUS_CREATED,
        created_at=created_at,
    )


def test_order_to_json() -> None:
    assert convert.order_to_json(stored_order()) == {
        "id": "order-1",
        "customer_id": "customer-1",
        "items": [{"sku": "sku-1", "quantity": 2, "unit_price_cents": 150}],
        "total_cents": 300,
        "status": "CREATED",
        "created_at": "2024-05-06T07:08:09.500Z",
    }


def test_created_at_on_a_whole_second_is_rfc3339_utc() -> None:
    order = stored_order()
    order.created_at.FromSeconds(1_700_000_000)

    assert convert.order_to_json(order)["created_at"] == "2023-11-14T22:13:20Z"


def test_last_page_has_a_null_next_page_token() -> None:
    page = orders_pb2.ListOrdersResponse(orders=[stored_order()])

    assert convert.orders_page_to_json(page) == {
        "orders": [convert.order_to_json(stored_order())],
        "next_page_token": None,
    }


def test_next_page_token_is_passed_on() -> None:
    page = orders_pb2.ListOrdersResponse(orders=[stored_order()], next_page_token="djE6MQ==")

    assert convert.orders_page_to_json(page)["next_page_token"] == "djE6MQ=="
