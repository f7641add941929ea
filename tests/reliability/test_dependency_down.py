"""The order-api is down: the gateway fails fast and honestly, counts it, and recovers by itself.

While the order-api is stopped, every gateway call that needs it answers a JSON
503 within a second (never a 500, never a hang), /readyz says 503, calls that do
not need it still work, and `http_requests_total{status_code="503"}` counts
exactly the 503s sent. Started again on the same port and database, the
order-api is used again within a few seconds without touching the gateway.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from otel_stack.harness.readiness import grpc_serving
from otel_stack.harness.running import ORDER_API, Stack, running_stack
from tests.reliability.counts import delta, http_requests
from tests.reliability.traffic import HttpLabels
from tests.support.http_client import HttpClient, Reply, assert_json_error, order_body
from tests.support.polling import wait_until

FAIL_FAST_SECONDS = 1.0
RECOVERY_SECONDS = 5.0


@dataclass(frozen=True)
class Request:
    """A request to the gateway and the route label it is counted under."""

    method: str
    path: str
    route: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def send(self, client: HttpClient) -> Reply:
        """Send it over `client`."""
        return client.request(self.method, self.path, self.body, dict(self.headers))


_JSON = ("Content-Type", "application/json")


def _post(customer_id: str, *headers: tuple[str, str]) -> Request:
    body = json.dumps(order_body(customer_id)).encode()
    return Request("POST", "/orders", "/orders", body, (_JSON, *headers))


NEEDS_ORDER_API = {
    "get-order": Request("GET", "/orders/order-1", "/orders/<order_id>"),
    "list-orders": Request("GET", "/orders", "/orders"),
    "list-customer-orders": Request("GET", "/orders?customer_id=c-1&page_size=5", "/orders"),
    "create-order": _post("c-1"),
    "create-order-idempotent": _post("c-2", ("Idempotency-Key", "key-1")),
}
# Answered by the gateway alone: (request, status).
GATEWAY_ONLY = {
    "healthz": (Request("GET", "/healthz", "/healthz"), 200),
    "impossible-id": (Request("GET", "/orders/" + "x" * 65, "/orders/<order_id>"), 404),
    "malformed-json": (Request("POST", "/orders", "/orders", b"{", (_JSON,)), 400),
    "openapi": (Request("GET", "/openapi.json", "/openapi.json"), 200),
    "unmatched": (Request("GET", "/nowhere", "unmatched"), 404),
}


@dataclass(frozen=True)
class Outage:
    """A stack whose order-api was stopped after one order had been created."""

    stack: Stack
    order_before_outage: dict[str, object]


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """Both services started, one order created, then the order-api stopped (SIGTERM)."""
    with running_stack(tmp_path_factory.mktemp("outage")) as stack:
        with HttpClient(stack.gateway_url) as client:
            created = client.post_json("/orders", order_body("before-outage"))
        assert created.status == 201
        assert stack.stop(ORDER_API) == 0
        yield Outage(stack, created.json())


@pytest.fixture
def client(outage: Outage) -> Iterator[HttpClient]:
    with HttpClient(outage.stack.gateway_url, timeout=10) as http:
        yield http


@pytest.mark.parametrize("name", list(NEEDS_ORDER_API))
def test_calls_needing_the_order_api_answer_json_503_within_a_second(
    client: HttpClient, name: str
) -> None:
    for _ in range(3):
        reply = NEEDS_ORDER_API[name].send(client)
        assert_json_error(reply, 503, "unavailable")
        assert reply.seconds < FAIL_FAST_SECONDS


def test_readyz_answers_503_while_the_order_api_is_down(client: HttpClient) -> None:
    reply = client.get("/readyz")
    assert_json_error(reply, 503, "not_ready")
    assert reply.seconds < FAIL_FAST_SECONDS


@pytest.mark.parametrize("name", list(GATEWAY_ONLY))
def test_calls_not_needing_the_order_api_still_work(client: HttpClient, name: str) -> None:
    request, status = GATEWAY_ONLY[name]
    reply = request.send(client)
    assert reply.status == status
    assert reply.content_type == "application/json"
    assert reply.seconds < FAIL_FAST_SECONDS


def test_http_requests_total_counts_exactly_the_503s(outage: Outage, client: HttpClient) -> None:
    url = outage.stack.gateway_url + "/metrics"
    sent: Counter[HttpLabels] = Counter()
    before = http_requests(url)
    for request in [*NEEDS_ORDER_API.values(), Request("GET", "/readyz", "/readyz")] * 4:
        reply = request.send(client)
        sent[(request.method, request.route, str(reply.status))] += 1
    after = http_requests(url)

    assert {labels[2] for labels in sent} == {"503"}
    assert delta(after, before) == dict(sent)


def test_gateway_recovers_by_itself_when_the_order_api_restarts(
    outage: Outage, client: HttpClient
) -> None:
    stack = outage.stack
    stack.restart(ORDER_API)
    wait_until(lambda: grpc_serving(stack.order_api_target), 30, "the restarted order-api")
    serving_again = time.monotonic()

    wait_until(
        lambda: client.get("/readyz").status == 200 and client.get("/orders").status == 200,
        RECOVERY_SECONDS,
        "the gateway to use the restarted order-api",
    )
    assert time.monotonic() - serving_again < RECOVERY_SECONDS
    order = outage.order_before_outage
    assert client.get(f"/orders/{order['id']}").json() == order
    assert client.post_json("/orders", order_body("after-outage")).status == 201
