"""The REST API end to end: a gateway app's test client in front of a real order-api."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from flask.testing import FlaskClient
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry
from werkzeug.test import TestResponse

from otel.sdk import Telemetry
from otel_stack.harness.running import free_port
from services.order_api.servicer import OrderServicer
from services.order_api.store import OrderStore
from services.orders_contract import DEFAULT_PAGE_SIZE, MAX_ID_LENGTH, MAX_QUANTITY
from services.proto.orders.v1 import orders_pb2
from services.web_gateway.app import create_app
from services.web_gateway.client import OrderClient
from services.web_gateway.config import Config
from tests.support.polling import wait_until
from tests.web_gateway.bodies import (
    ITEM,
    MALFORMED_BODIES,
    MakeGateway,
    StartOrderApi,
    error_of,
    order,
)

# A correctness bound for "fails fast", not a benchmark: far below any deadline.
FAIL_FAST_SECONDS = 1.5
RECOVERY_SECONDS = 5.0


def create(http: FlaskClient, key: str | None = None, **fields: object) -> TestResponse:
    """POST /orders with `order(**fields)` and an optional Idempotency-Key."""
    headers = {"Idempotency-Key": key} if key is not None else {}
    return http.post("/orders", json=order(**fields), headers=headers)


def test_create_answers_201_with_the_order_and_its_location(http: FlaskClient) -> None:
    response = create(http, customer_id="c-1", items=[ITEM, {**ITEM, "sku": "sku-2"}])

    assert response.status_code == 201
    created = response.get_json()
    assert response.headers["Location"] == f"/orders/{created['id']}"
    assert created["customer_id"] == "c-1"
    assert created["items"] == [ITEM, {**ITEM, "sku": "sku-2"}]
    assert created["total_cents"] == 2 * ITEM["quantity"] * ITEM["unit_price_cents"]
    assert created["status"] == "CREATED"
    assert created["created_at"].endswith("Z")


def test_get_returns_the_created_order(http: FlaskClient) -> None:
    created = create(http).get_json()

    response = http.get(f"/orders/{created['id']}")

    assert response.status_code == 200
    assert response.get_json() == created


def test_unknown_order_is_404(http: FlaskClient) -> None:
    response = http.get("/orders/no-such-order")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    "order_id", ["x" * (MAX_ID_LENGTH + 1), "caf%C3%A9", "a%20b"], ids=["long", "accent", "space"]
)
def test_impossible_order_id_is_404_without_calling_the_order_api(
    make_gateway: MakeGateway, order_id: str
) -> None:
    unreachable = make_gateway(f"127.0.0.1:{free_port()}")

    response = unreachable.get(f"/orders/{order_id}")

    assert response.status_code == 404  # a call would have failed with 503
    assert error_of(response) == {"code": "not_found", "message": "order not found"}


@pytest.mark.parametrize(("raw", "message"), MALFORMED_BODIES)
def test_malformed_body_is_400_naming_the_field(
    http: FlaskClient, raw: bytes, message: str
) -> None:
    response = http.post("/orders", data=raw, content_type="application/json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_argument"
    assert error["message"].startswith(message)


def test_order_breaking_a_business_rule_is_400_with_the_order_apis_message(
    http: FlaskClient,
) -> None:
    response = create(http, items=[{**ITEM, "quantity": 0}])

    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid_argument",
        "message": f"items[0].quantity: must be between 1 and {MAX_QUANTITY}",
    }


def test_body_that_is_not_json_content_is_415(http: FlaskClient) -> None:
    response = http.post("/orders", data=b'{"customer_id": "c"}', content_type="text/plain")

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_json_content_type_with_charset_is_accepted(http: FlaskClient) -> None:
    response = http.post(
        "/orders", data=json.dumps(order()).encode(), content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201


def test_idempotent_retry_answers_200_with_the_same_order(http: FlaskClient) -> None:
    first = create(http, key="retry-1")

    retry = create(http, key="retry-1")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.get_json() == first.get_json()
    assert retry.headers["Location"] == first.headers["Location"]


def test_idempotency_key_reused_for_another_order_is_409(http: FlaskClient) -> None:
    assert create(http, key="reused").status_code == 201

    response = create(http, key="reused", customer_id="someone-else")

    assert response.status_code == 409
    assert error_of(response)["code"] == "already_exists"


@pytest.mark.parametrize("key", ["k" * (MAX_ID_LENGTH + 1), "has space", "semi;colon"])
def test_bad_idempotency_key_is_400(http: FlaskClient, key: str) -> None:
    response = create(http, key=key)

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("Idempotency-Key: ")


def test_listing_walks_every_page_of_one_customer(http: FlaskClient) -> None:
    mine = [create(http, customer_id="walker").get_json()["id"] for _ in range(7)]
    create(http, customer_id="someone-else")
    seen: list[str] = []
    pages = 0
    token: str | None = ""

    while token is not None:
        response = http.get(
            "/orders", query_string={"customer_id": "walker", "page_size": 3, "page_token": token}
        )
        assert response.status_code == 200
        page = response.get_json()
        seen += [listed["id"] for listed in page["orders"]]
        token = page["next_page_token"]
        pages += 1

    assert seen == mine
    assert pages == 3


def test_listing_without_page_size_gives_the_default_page(http: FlaskClient) -> None:
    for _ in range(DEFAULT_PAGE_SIZE + 1):
        create(http)

    page = http.get("/orders").get_json()

    assert len(page["orders"]) == DEFAULT_PAGE_SIZE
    assert page["next_page_token"] is not None


def test_listing_with_nothing_stored_is_an_empty_last_page(http: FlaskClient) -> None:
    response = http.get("/orders")

    assert response.status_code == 200
    assert response.get_json() == {"orders": [], "next_page_token": None}


@pytest.mark.parametrize("page_size", ["0", "101", "-1", "ten", "2.5"])
def test_bad_page_size_is_400(http: FlaskClient, page_size: str) -> None:
    response = http.get("/orders", query_string={"page_size": page_size})

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("page_size: ")


def test_bad_page_token_is_400(http: FlaskClient) -> None:
    response = http.get("/orders", query_string={"page_token": "not-a-token"})

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("page_token: ")


def test_healthz_is_200_with_the_order_api_unreachable(make_gateway: MakeGateway) -> None:
    response = make_gateway(f"127.0.0.1:{free_port()}").get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_while_the_order_api_serves(http: FlaskClient) -> None:
    response = http.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_order_api_down_is_503_fast_and_a_new_one_on_the_same_port_is_used_again(
    start_order_api: StartOrderApi, make_gateway: MakeGateway
) -> None:
    first = start_order_api()
    http = make_gateway(first.target)
    order_id = create(http).get_json()["id"]
    first.stop()

    for method, path in [("POST", "/orders"), ("GET", f"/orders/{order_id}"), ("GET", "/orders")]:
        started = time.monotonic()
        response = http.open(path, method=method, json=order() if method == "POST" else None)
        assert time.monotonic() - started < FAIL_FAST_SECONDS, (method, path)
        assert response.status_code == 503, (method, path)
        assert error_of(response) == {
            "code": "unavailable",
            "message": "the order service is unavailable",
        }
    assert http.get("/readyz").status_code == 503
    assert error_of(http.get("/readyz"))["code"] == "not_ready"

    start_order_api(port=first.port)

    wait_until(lambda: http.get("/readyz").status_code == 200, RECOVERY_SECONDS, "/readyz 200")
    assert http.get(f"/orders/{order_id}").status_code == 200
    assert create(http).status_code == 201


class StalledServicer(OrderServicer):
    """Holds every GetOrder until `release` is set: slower than any deadline a test gives."""

    def __init__(self, store: OrderStore, release: threading.Event) -> None:
        super().__init__(store)
        self._release = release

    def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: grpc.ServicerContext
    ) -> orders_pb2.GetOrderResponse:
        self._release.wait(timeout=30)
        return super().GetOrder(request, context)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set after the test, letting stalled calls finish before their server stops."""
    event = threading.Event()
    yield event
    event.set()


def test_order_api_slower_than_the_timeout_is_504(
    start_order_api: StartOrderApi, make_gateway: MakeGateway, release: threading.Event
) -> None:
    stalled = start_order_api(servicer=lambda store: StalledServicer(store, release))
    http = make_gateway(stalled.target, timeout=0.2)

    started = time.monotonic()
    response = http.get("/orders/some-order")

    assert time.monotonic() - started < FAIL_FAST_SECONDS
    assert response.status_code == 504
    assert error_of(response) == {
        "code": "deadline_exceeded",
        "message": "the order service did not answer in time",
    }


def _metrics_app(token: str | None) -> FlaskClient:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    telemetry = Telemetry("web-gateway", provider, NoOpTracerProvider(), registry)
    config = Config(order_api_target="127.0.0.1:1", metrics_token=token)
    client = OrderClient(config.order_api_target, 0.5)
    return create_app(config, client=client, telemetry=telemetry).test_client()


TOKEN = "s3cret-metrics-token-0123"


def test_metrics_without_a_configured_token_are_open() -> None:
    assert _metrics_app(None).get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN]
)
def test_metrics_with_a_token_refuse_other_credentials(authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = _metrics_app(TOKEN).get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert error_of(response)["code"] == "unauthorized"
    assert TOKEN not in response.get_data(as_text=True)


def test_metrics_with_the_token_are_served() -> None:
    response = _metrics_app(TOKEN).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "target_info" in response.get_data(as_text=True)
