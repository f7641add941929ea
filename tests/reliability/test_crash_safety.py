"""SIGKILL of the order-api in the middle of a stream of creates: nothing acknowledged is lost,
and Idempotency-Key retries after the crash neither duplicate nor alter orders.

Four clients POST orders, each with its own customer and Idempotency-Key, while
the order-api is killed without warning and started again on the same
database. Requests in flight at the kill get a 503 and may or may not have been
stored; retrying them with the same key is what makes that safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from otel_stack.harness.readiness import grpc_serving
from otel_stack.harness.running import ORDER_API, Stack, running_stack
from tests.support.http_client import HttpClient, assert_json_error, order_body
from tests.support.polling import wait_until

CLIENTS = 4
MAX_REQUESTS_PER_CLIENT = 400
ACKNOWLEDGED_BEFORE_KILL = 80


@dataclass(frozen=True)
class Sent:
    """One POST /orders of the stream and its answer."""

    key: str
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]

    @property
    def customer_id(self) -> str:
        return str(self.body["customer_id"])


@dataclass(frozen=True)
class Crash:
    """The stack after the crash and restart, and everything the stream sent."""

    stack: Stack
    sent: list[Sent]

    @property
    def acknowledged(self) -> list[Sent]:
        return [sent for sent in self.sent if sent.status == 201]


def _stream(base_url: str, client: int, stop: threading.Event, sent: list[Sent]) -> None:
    with HttpClient(base_url) as http:
        for number in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set():
                return
            key = f"crash-{client}-{number}"
            body = order_body(f"customer-{client}-{number}", quantity=number % 9 + 1)
            reply = http.post_json("/orders", body, {"Idempotency-Key": key})
            sent.append(Sent(key, body, reply.status, reply.json()))


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """Stream creates, SIGKILL the order-api mid-stream, restart it on the same database."""
    with running_stack(tmp_path_factory.mktemp("crash")) as stack:
        stop = threading.Event()
        sent: list[Sent] = []
        threads = [
            threading.Thread(target=_stream, args=(stack.gateway_url, client, stop, sent))
            for client in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        try:
            wait_until(
                lambda: sum(s.status == 201 for s in sent) >= ACKNOWLEDGED_BEFORE_KILL,
                30,
                "orders acknowledged before the kill",
            )
            stack.processes[ORDER_API].kill()
            stack.processes[ORDER_API].wait(timeout=10)
            # Keep streaming until every client has seen the outage.
            wait_until(
                lambda: len({s.key.split("-")[1] for s in sent if s.status == 503}) == CLIENTS,
                10,
                "every client to get a 503",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        stack.restart(ORDER_API)
        wait_until(lambda: grpc_serving(stack.order_api_target), 30, "the restarted order-api")
        with HttpClient(stack.gateway_url) as http:
            wait_until(lambda: http.get("/readyz").status == 200, 10, "gateway readiness")
        yield Crash(stack, list(sent))


@pytest.fixture
def client(crash: Crash) -> Iterator[HttpClient]:
    with HttpClient(crash.stack.gateway_url) as http:
        yield http


def test_the_stream_got_only_201_or_503(crash: Crash) -> None:
    statuses = {sent.status for sent in crash.sent}
    assert statuses == {201, 503}
    for sent in crash.sent:
        if sent.status == 503:
            assert sent.answer["error"]["code"] == "unavailable"


def test_every_acknowledged_order_is_readable_after_the_restart(
    crash: Crash, client: HttpClient
) -> None:
    assert len(crash.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    for sent in crash.acknowledged:
        reply = client.get(f"/orders/{sent.answer['id']}")
        assert reply.status == 200, sent
        assert reply.json() == sent.answer


def test_retry_with_the_same_key_and_body_returns_the_acknowledged_order(
    crash: Crash, client: HttpClient
) -> None:
    for sent in crash.acknowledged:
        reply = client.post_json("/orders", sent.body, {"Idempotency-Key": sent.key})
        assert reply.status == 200, sent
        assert reply.json() == sent.answer


def test_retrying_every_request_leaves_exactly_one_order_per_key(
    crash: Crash, client: HttpClient
) -> None:
    for sent in crash.sent:
        first = client.post_json("/orders", sent.body, {"Idempotency-Key": sent.key})
        again = client.post_json("/orders", sent.body, {"Idempotency-Key": sent.key})
        # 201 when the crash hit before the order was stored, 200 when it was stored.
        assert first.status in (200, 201), sent
        assert again.status == 200
        assert again.json() == first.json()
        listing = client.get(f"/orders?customer_id={sent.customer_id}").json()
        assert [order["id"] for order in listing["orders"]] == [first.json()["id"]], sent


def test_same_key_with_a_different_body_is_a_conflict_after_the_crash(
    crash: Crash, client: HttpClient
) -> None:
    for sent in crash.acknowledged:
        changed = order_body(sent.customer_id, quantity=sent.body["items"][0]["quantity"] + 1)
        reply = client.post_json("/orders", changed, {"Idempotency-Key": sent.key})
        assert_json_error(reply, 409, "already_exists")
        assert client.get(f"/orders/{sent.answer['id']}").json() == sent.answer
