"""Input rules of the order-api: each broken rule raises ValidationError naming the field."""

from __future__ import annotations

import pytest

from services.order_api import validation
from services.orders_contract import (
    DEFAULT_PAGE_SIZE,
    MAX_ID_LENGTH,
    MAX_ITEMS,
    MAX_PAGE_SIZE,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
    ValidationError,
)
from services.proto.orders.v1 import orders_pb2
from tests.support.order_api import INVALID_CREATE_REQUESTS, create_request, item


@pytest.mark.parametrize(
    ("request_", "field"),
    [(request, field) for _, request, field in INVALID_CREATE_REQUESTS],
    ids=[case for case, _, _ in INVALID_CREATE_REQUESTS],
)
def test_invalid_create_request_names_the_field(
    request_: orders_pb2.CreateOrderRequest, field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        validation.check_create_request(request_)

    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "request_",
    [
        create_request(),
        create_request(customer_id="A-z_0.9:x", idempotency_key="retry-1"),
        create_request(customer_id="c" * MAX_ID_LENGTH),
        create_request(items=[item() for _ in range(MAX_ITEMS)]),
        create_request(items=[item(quantity=1), item(quantity=MAX_QUANTITY)]),
        create_request(items=[item(unit_price_cents=0)]),
        create_request(items=[item(unit_price_cents=MAX_UNIT_PRICE_CENTS)]),
    ],
    ids=[
        "plain",
        "all allowed characters",
        "longest customer id",
        "most items",
        "quantity bounds",
        "free item",
        "highest price",
    ],
)
def test_requests_at_the_limits_are_valid(request_: orders_pb2.CreateOrderRequest) -> None:
    validation.check_create_request(request_)


def test_first_bad_field_is_reported() -> None:
    request = create_request(customer_id="", items=[])

    with pytest.raises(ValidationError) as raised:
        validation.check_create_request(request)

    assert raised.value.field == "customer_id"


def test_page_size_zero_means_the_default() -> None:
    assert validation.check_page_size(0) == DEFAULT_PAGE_SIZE


@pytest.mark.parametrize("page_size", [1, 7, MAX_PAGE_SIZE])
def test_page_size_in_range_is_kept(page_size: int) -> None:
    assert validation.check_page_size(page_size) == page_size


@pytest.mark.parametrize("page_size", [-1, MAX_PAGE_SIZE + 1, 2**31 - 1])
def test_page_size_out_of_range_names_page_size(page_size: int) -> None:
    with pytest.raises(ValidationError) as raised:
        validation.check_page_size(page_size)

    assert raised.value.field == "page_size"
