"""Injected order-api faults as seen through the gateway and in both services' metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_stack.harness.http_call import call, create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.running import Stack, running_stack
from otel_stack.harness.scrape import scrape
from services.web_gateway.client import RETRY_ATTEMPTS
from tests.support.polling import wait_until

CALLS = 12


@pytest.fixture(scope="module")
def failing_get_order(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("faults")
    faults = {"ORDER_API_FAULTS": "error:GetOrder=1.0:UNAVAILABLE"}
    with running_stack(tmp_path, launcher=True, environ=faults) as stack:
        yield stack


@pytest.fixture(scope="module")
def get_statuses(failing_get_order: Stack) -> list[int]:
    url = failing_get_order.gateway_url
    order_ids = [create_order(url, EXAMPLE_ORDER) for _ in range(3)]
    return [call("GET", f"{url}/orders/{order_ids[n % 3]}").status for n in range(CALLS)]


def test_every_get_through_the_gateway_fails_with_503(get_statuses: list[int]) -> None:
    assert get_statuses == [503] * CALLS


def test_order_api_counts_each_attempt_as_unavailable(
    failing_get_order: Stack, get_statuses: list[int]
) -> None:
    # The gateway's channel retries GetOrder on UNAVAILABLE: each attempt reaches the order-api.
    attempts = len(get_statuses) * RETRY_ATTEMPTS

    def unavailable() -> float:
        counts = scrape(failing_get_order.order_api_metrics_url).counter(
            "grpc_requests_total", ("method", "status")
        )
        return counts.get(("GetOrder", "UNAVAILABLE"), 0.0)

    wait_until(lambda: unavailable() >= attempts, 5, "GetOrder UNAVAILABLE count")
    assert unavailable() == attempts


def test_gateway_counts_each_call_as_503(failing_get_order: Stack, get_statuses: list[int]) -> None:
    def count() -> float:
        counts = scrape(failing_get_order.gateway_url + "/metrics").counter(
            "http_requests_total", ("method", "route", "status_code")
        )
        return counts.get(("GET", "/orders/<order_id>", "503"), 0.0)

    wait_until(lambda: count() >= len(get_statuses), 5, "gateway 503 count")
    assert count() == len(get_statuses)


def test_other_methods_are_unaffected(failing_get_order: Stack, get_statuses: list[int]) -> None:
    counts = scrape(failing_get_order.order_api_metrics_url).counter(
        "grpc_requests_total", ("method", "status")
    )
    assert counts.get(("CreateOrder", "OK")) == 3
    assert not any(method == "CreateOrder" and status != "OK" for method, status in counts)
