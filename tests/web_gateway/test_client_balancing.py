"""OrderClient over several order-api replicas: round_robin balancing and retries elsewhere.

Two real order-api processes share one PostgreSQL database; the client's target
lists both (`ipv4:A,B`). Calls spread over both; when one is killed, calls that
are safe to repeat keep succeeding on the other, and a CreateOrder without an
idempotency key is never sent twice.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest

from otel_stack.harness import processes, running, scrape
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import Service
from otel_stack.harness.running import free_port
from services.web_gateway.client import OrderClient
from tests.support.order_api import create_request
from tests.support.polling import wait_until

CALLS = 40


def _start_order_api(
    name: str, database_url: str, log_dir: Path, **extra: str
) -> tuple[Service, str, str]:
    target = f"127.0.0.1:{free_port()}"
    metrics_port = free_port()
    spec = running.order_api_spec(
        log_dir / f"{name}.log",
        child_environ({"OTEL_SERVICE_NAME": "order-api", **extra}),
        listen=target,
        db=database_url,
        metrics=("127.0.0.1", metrics_port),
        name=name,
    )
    service = processes.start(spec, timeout=30)
    return service, target, f"http://127.0.0.1:{metrics_port}/metrics"


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[tuple[Service, str, str]]]:
    """Two order-api processes on one PostgreSQL database: (service, target, metrics URL)."""
    started: list[tuple[Service, str, str]] = []
    try:
        for name in ("order-api-1", "order-api-2"):
            started.append(_start_order_api(name, postgres_url, tmp_path))
        yield started
    finally:
        processes.stop_all([service for service, _, _ in started], grace=10)


@pytest.fixture
def client(replicas: list[tuple[Service, str, str]]) -> Iterator[OrderClient]:
    target = "ipv4:" + ",".join(target for _, target, _ in replicas)
    order_client = OrderClient(target, timeout=5.0)
    yield order_client
    order_client.close()


def _served(metrics_url: str, method: str) -> float:
    counts = scrape.scrape(metrics_url).counter("grpc_requests_total", ("method",))
    return counts.get((method,), 0.0)


def test_calls_are_spread_over_every_replica(
    replicas: list[tuple[Service, str, str]], client: OrderClient
) -> None:
    order = client.create_order(create_request()).order
    urls = [metrics_url for _, _, metrics_url in replicas]
    # round_robin uses a replica once its connection is ready; poll until both are.
    wait_until(
        lambda: client.get_order(order.id) and all(_served(url, "GetOrder") for url in urls),
        10,
        "both replicas to serve",
    )
    before = [_served(url, "GetOrder") for url in urls]

    for _ in range(CALLS):
        client.get_order(order.id)

    served = [_served(url, "GetOrder") - start for url, start in zip(urls, before, strict=True)]
    assert served == [CALLS / 2, CALLS / 2]


def test_calls_move_to_the_other_replica_when_one_is_killed(
    replicas: list[tuple[Service, str, str]], client: OrderClient
) -> None:
    order = client.create_order(create_request(idempotency_key="before-kill")).order
    killed, _, _ = replicas[0]

    killed.signal(signal.SIGKILL)
    killed.process.wait(timeout=10)

    for index in range(CALLS):
        assert client.get_order(order.id) == order
        assert client.list_orders("", 10, "").orders
        key = f"after-kill-{index}"
        assert client.create_order(create_request(idempotency_key=key)).created
    survivor_metrics = replicas[1][2]
    assert _served(survivor_metrics, "GetOrder") >= CALLS


def test_only_calls_safe_to_repeat_are_retried_on_another_replica(
    postgres_url: str, tmp_path: Path
) -> None:
    # The first replica answers every call with UNAVAILABLE (injected); the second works.
    faults = "error:CreateOrder=1.0:UNAVAILABLE,error:GetOrder=1.0:UNAVAILABLE"
    started = [
        _start_order_api("failing", postgres_url, tmp_path, ORDER_API_FAULTS=faults),
        _start_order_api("healthy", postgres_url, tmp_path),
    ]
    order_client = OrderClient("ipv4:" + ",".join(t for _, t, _ in started), timeout=5.0)
    try:
        urls = [metrics_url for _, _, metrics_url in started]
        wait_until(lambda: _both_serve(order_client, urls), 10, "both replicas to serve")
        keyed = [
            order_client.create_order(create_request(idempotency_key=f"k-{i}")).order
            for i in range(CALLS)
        ]
        fetched = [order_client.get_order(order.id) for order in keyed]
        unkeyed = [_create_or_code(order_client) for _ in range(CALLS)]
    finally:
        order_client.close()
        processes.stop_all([service for service, _, _ in started], grace=10)

    assert fetched == keyed
    refused = unkeyed.count(grpc.StatusCode.UNAVAILABLE)
    assert 0 < refused < CALLS
    listed = _all_orders(postgres_url)
    assert listed == CALLS + (CALLS - refused)


def _both_serve(order_client: OrderClient, metrics_urls: list[str]) -> bool:
    # round_robin uses a replica once its connection is ready (its health watch answered):
    # until each replica has served a GetOrder, the calls may all land on one. An unknown
    # id: the failing replica's UNAVAILABLE is retried elsewhere, which says NOT_FOUND.
    with contextlib.suppress(grpc.RpcError):
        order_client.get_order("not-an-order")
    return all(_served(url, "GetOrder") for url in metrics_urls)


def _create_or_code(order_client: OrderClient) -> grpc.StatusCode | None:
    try:
        order_client.create_order(create_request())
    except grpc.RpcError as error:
        return error.code()
    return None


def _all_orders(postgres_url: str) -> int:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])
