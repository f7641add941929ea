"""OrderServicer through a real gRPC server: responses, status codes, idempotency, paging."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable

import grpc
import pytest

from services.order_api.servicer import encode_page_token
from services.order_api.store import Item, Order
from services.order_api.store_sqlite import SqliteOrderStore
from services.orders_contract import DEFAULT_PAGE_SIZE, MAX_ID_LENGTH, MAX_PAGE_SIZE
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.order_api import (
    INVALID_CREATE_REQUESTS,
    TOO_LONG,
    RunningOrderApi,
    StartOrderApi,
    create_request,
    item,
)

Stub = orders_pb2_grpc.OrderServiceStub


def _create(stub: Stub, customer_id: str = "customer-1") -> orders_pb2.Order:
    return stub.CreateOrder(create_request(customer_id=customer_id)).order


def _failure(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    """The status code and details of the RpcError that `call` must raise."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details() or ""


def _list_all(
    stub: Stub, page_size: int, customer_id: str = ""
) -> list[orders_pb2.ListOrdersResponse]:
    """Every page of a listing, following next_page_token until it is empty."""
    pages = []
    token = ""
    for _ in range(1000):
        page = stub.ListOrders(
            orders_pb2.ListOrdersRequest(
                customer_id=customer_id, page_size=page_size, page_token=token
            )
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages
    raise AssertionError("next_page_token never became empty")


# --- CreateOrder -------------------------------------------------------------------------------


def test_create_order_returns_the_new_order(stub: Stub) -> None:
    request = create_request(
        customer_id="alice",
        items=[item("sku-1", 2, 150), item("sku-2", 1, 999)],
    )

    response = stub.CreateOrder(request)

    assert response.created is True
    order = response.order
    assert order.id
    assert order.customer_id == "alice"
    assert list(order.items) == list(request.items)
    assert order.total_cents == 1299
    assert order.status == orders_pb2.ORDER_STATUS_CREATED
    assert order.created_at.seconds > 0


@pytest.mark.parametrize(
    ("request_", "field"),
    [(request, field) for _, request, field in INVALID_CREATE_REQUESTS],
    ids=[case for case, _, _ in INVALID_CREATE_REQUESTS],
)
def test_invalid_create_order_is_invalid_argument_naming_the_field(
    stub: Stub, request_: orders_pb2.CreateOrderRequest, field: str
) -> None:
    code, details = _failure(lambda: stub.CreateOrder(request_))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(f"{field}: ")


def test_invalid_create_order_stores_nothing(order_api: RunningOrderApi) -> None:
    _failure(lambda: order_api.stub.CreateOrder(create_request(items=[])))

    assert order_api.store.count() == 0


def test_retry_with_same_idempotency_key_returns_the_same_order(stub: Stub) -> None:
    request = create_request(idempotency_key="retry-1")

    first = stub.CreateOrder(request)
    retry = stub.CreateOrder(request)

    assert (first.created, retry.created) == (True, False)
    assert retry.order == first.order


def test_idempotency_key_reused_for_another_order_is_already_exists(stub: Stub) -> None:
    stub.CreateOrder(create_request(idempotency_key="retry-1"))
    other = create_request(items=[item(quantity=5)], idempotency_key="retry-1")

    code, details = _failure(lambda: stub.CreateOrder(other))

    assert code is grpc.StatusCode.ALREADY_EXISTS
    assert details.startswith("idempotency_key: ")


# --- GetOrder ----------------------------------------------------------------------------------


def test_get_order_returns_the_created_order(stub: Stub) -> None:
    created = _create(stub)

    response = stub.GetOrder(orders_pb2.GetOrderRequest(id=created.id))

    assert response.order == created


def test_get_unknown_order_is_not_found(stub: Stub) -> None:
    missing = uuid.uuid4().hex

    code, details = _failure(lambda: stub.GetOrder(orders_pb2.GetOrderRequest(id=missing)))

    assert code is grpc.StatusCode.NOT_FOUND
    assert missing in details


@pytest.mark.parametrize("order_id", ["", TOO_LONG, "a b", "../etc", "ü"])
def test_get_order_with_bad_id_is_invalid_argument(stub: Stub, order_id: str) -> None:
    code, details = _failure(lambda: stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id)))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("id: ")


# --- ListOrders --------------------------------------------------------------------------------


def test_list_orders_of_an_empty_store_is_one_empty_page(stub: Stub) -> None:
    response = stub.ListOrders(orders_pb2.ListOrdersRequest())

    assert list(response.orders) == []
    assert response.next_page_token == ""


def test_paging_visits_every_order_once_in_creation_order(stub: Stub) -> None:
    created = [_create(stub).id for _ in range(45)]

    pages = _list_all(stub, page_size=10)

    assert [len(page.orders) for page in pages] == [10, 10, 10, 10, 5]
    assert [order.id for page in pages for order in page.orders] == created
    assert all(page.next_page_token for page in pages[:-1])
    assert pages[-1].next_page_token == ""


def test_a_full_last_page_has_no_next_token(stub: Stub) -> None:
    created = [_create(stub).id for _ in range(4)]

    pages = _list_all(stub, page_size=2)

    assert [[order.id for order in page.orders] for page in pages] == [created[:2], created[2:]]


def test_paging_with_a_customer_filter_lists_only_that_customer(stub: Stub) -> None:
    alice = []
    for n in range(30):
        order = _create(stub, customer_id=("alice", "bob", "carol")[n % 3])
        if order.customer_id == "alice":
            alice.append(order.id)

    pages = _list_all(stub, page_size=3, customer_id="alice")

    assert [len(page.orders) for page in pages] == [3, 3, 3, 1]
    assert [order.id for page in pages for order in page.orders] == alice


def test_page_size_zero_uses_the_default(stub: Stub) -> None:
    for _ in range(DEFAULT_PAGE_SIZE + 1):
        _create(stub)

    response = stub.ListOrders(orders_pb2.ListOrdersRequest(page_size=0))

    assert len(response.orders) == DEFAULT_PAGE_SIZE
    assert response.next_page_token


@pytest.mark.parametrize("page_size", [MAX_PAGE_SIZE + 1, -1])
def test_page_size_out_of_range_is_invalid_argument(stub: Stub, page_size: int) -> None:
    request = orders_pb2.ListOrdersRequest(page_size=page_size)

    code, details = _failure(lambda: stub.ListOrders(request))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("page_size: ")


@pytest.mark.parametrize("customer_id", [TOO_LONG, "a b", "x" * (MAX_ID_LENGTH * 4)])
def test_list_with_bad_customer_filter_is_invalid_argument(stub: Stub, customer_id: str) -> None:
    request = orders_pb2.ListOrdersRequest(customer_id=customer_id)

    code, details = _failure(lambda: stub.ListOrders(request))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("customer_id: ")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "not-base64",
        _b64(b"garbage"),
        _b64(b"v2:5"),
        _b64(b"v1:"),
        _b64(b"v1:-5"),
        _b64(b"v1:5x"),
        "v1:5",
        "ééé",
        encode_page_token(10**50),
        "A" * 10_000,
        # Decodes to a well-formed token whose position no SQLite integer can hold.
        _b64(b"v1:" + b"9" * 40),
    ],
    ids=[
        "not base64",
        "unpadded base64 of garbage",
        "base64 of garbage",
        "other version",
        "no position",
        "negative position",
        "position not a number",
        "not encoded",
        "non-ascii",
        "over-long",
        "huge",
        "position beyond int64",
    ],
)
def test_bad_page_token_is_invalid_argument(stub: Stub, token: str) -> None:
    request = orders_pb2.ListOrdersRequest(page_token=token)

    code, details = _failure(lambda: stub.ListOrders(request))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("page_token: ")


def test_page_token_round_trips_through_encode_and_decode(stub: Stub) -> None:
    created = [_create(stub).id for _ in range(3)]
    after_first = stub.ListOrders(orders_pb2.ListOrdersRequest(page_size=1)).next_page_token

    rest = stub.ListOrders(orders_pb2.ListOrdersRequest(page_token=after_first))

    assert [order.id for order in rest.orders] == created[1:]


# --- Unexpected errors and restarts ------------------------------------------------------------


class FailingStore(SqliteOrderStore):
    """A store whose every operation fails with an internal detail in the message."""

    def create(
        self, customer_id: str, items: tuple[Item, ...], idempotency_key: str = ""
    ) -> tuple[Order, bool]:
        raise RuntimeError("secret detail")

    def get(self, order_id: str) -> Order | None:
        raise RuntimeError("secret detail")

    def list(self, customer_id: str, limit: int, after_seq: int = 0) -> tuple[list[Order], bool]:
        raise RuntimeError("secret detail")


@pytest.fixture
def failing_stub(start_server: StartOrderApi) -> Stub:
    return start_server(store=FailingStore(":memory:")).stub


@pytest.mark.parametrize(
    "call",
    [
        lambda stub: stub.CreateOrder(create_request()),
        lambda stub: stub.GetOrder(orders_pb2.GetOrderRequest(id="some-id")),
        lambda stub: stub.ListOrders(orders_pb2.ListOrdersRequest()),
    ],
    ids=["CreateOrder", "GetOrder", "ListOrders"],
)
def test_unexpected_error_is_internal_without_details(
    failing_stub: Stub, call: Callable[[Stub], object]
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call(failing_stub)

    assert raised.value.code() is grpc.StatusCode.INTERNAL
    assert raised.value.details() == "internal error"
    assert "secret detail" not in str(raised.value)


def test_unexpected_error_is_logged_with_its_details(
    failing_stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="services.order_api.servicer"):
        _failure(lambda: failing_stub.GetOrder(orders_pb2.GetOrderRequest(id="some-id")))

    assert "secret detail" in caplog.text


def test_orders_survive_a_server_restart_on_the_same_file(start_server: StartOrderApi) -> None:
    first = start_server()
    created = [_create(first.stub).id for _ in range(3)]
    first.stop()

    second = start_server()

    for order_id in created:
        response = second.stub.GetOrder(orders_pb2.GetOrderRequest(id=order_id))
        assert response.order.id == order_id
    listed = second.stub.ListOrders(orders_pb2.ListOrdersRequest())
    assert [order.id for order in listed.orders] == created
