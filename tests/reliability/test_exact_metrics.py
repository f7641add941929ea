"""Exact accounting under concurrency: 16 clients x 500 mixed requests, counted to the request.

Every response the clients received is tallied under the label set the
gateway must record for it, and every order-api call under its final gRPC
status; the counters on both /metrics endpoints must have moved by exactly
that much. When Prometheus is installed, a real one scraping both services
every second must end up with the same numbers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from otel_stack.harness.mix import RpcLabels
from otel_stack.harness.running import GATEWAY, ORDER_API, Stack
from otel_stack.harness.scrape import Exposition, scrape
from tests.reliability.counts import (
    delta,
    grpc_requests,
    http_duration_counts,
    http_requests,
    prometheus_counts,
    prometheus_installed,
    prometheus_scraping,
)
from tests.reliability.traffic import Tally, run_mixed_traffic
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus
from tests.support.tools import require_tool

CLIENTS = 16
REQUESTS_PER_CLIENT = 500
HTTP_LABELS = ("method", "route", "status_code")


@dataclass(frozen=True)
class Snapshot:
    """The counters of both services at one moment."""

    http: Counter[tuple[str, str, str]]
    http_durations: Counter[tuple[str, str, str]]
    grpc: Counter[RpcLabels]
    order_api: Exposition

    @classmethod
    def take(cls, stack: Stack) -> Snapshot:
        """Exposition both services."""
        url = stack.gateway_url + "/metrics"
        return cls(
            http_requests(url),
            http_duration_counts(url),
            grpc_requests(stack.order_api_metrics_url),
            scrape(stack.order_api_metrics_url),
        )


@dataclass(frozen=True)
class Run:
    """One run of the traffic and what both services said before and after it."""

    tally: Tally
    before: Snapshot
    after: Snapshot
    ended_at: float
    prometheus: Prometheus | None


@pytest.fixture(scope="module")
def run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Run the traffic once (scraped by Prometheus meanwhile, when it is installed)."""
    with ExitStack() as resources:
        prometheus = None
        if prometheus_installed():
            directory = tmp_path_factory.mktemp("prometheus")
            prometheus = resources.enter_context(prometheus_scraping(directory, stack))
        before = Snapshot.take(stack)
        tally = run_mixed_traffic(
            stack.gateway_url,
            clients=CLIENTS,
            requests_per_client=REQUESTS_PER_CLIENT,
            seconds=120,
        )
        ended_at = time.time()
        yield Run(tally, before, Snapshot.take(stack), ended_at, prometheus)


def test_every_request_got_its_expected_answer(run: Run) -> None:
    assert run.tally.errors == []
    assert run.tally.requests == CLIENTS * REQUESTS_PER_CLIENT
    assert sum(run.tally.http.values()) == CLIENTS * REQUESTS_PER_CLIENT


def test_http_requests_total_moves_by_exactly_the_requests_sent(run: Run) -> None:
    assert delta(run.after.http, run.before.http) == dict(run.tally.http)


def test_http_duration_histogram_counts_exactly_the_requests_sent(run: Run) -> None:
    assert delta(run.after.http_durations, run.before.http_durations) == dict(run.tally.http)


def test_grpc_requests_total_moves_by_exactly_the_rpcs_made(run: Run) -> None:
    assert delta(run.after.grpc, run.before.grpc) == dict(run.tally.rpc)


def test_grpc_duration_histogram_counts_exactly_the_rpcs_made(run: Run) -> None:
    per_method: Counter[str] = Counter()
    for (method, _status), count in run.tally.rpc.items():
        per_method[method] += count
    for method, count in per_method.items():
        moved = run.after.order_api.value(
            "grpc_request_duration_seconds_count", method=method
        ) - run.before.order_api.value("grpc_request_duration_seconds_count", method=method)
        assert moved == count, method


def test_orders_created_total_counts_exactly_the_orders_created(run: Run) -> None:
    created = run.tally.rpc[("CreateOrder", "OK")]
    moved = run.after.order_api.value("orders_created_total") - run.before.order_api.value(
        "orders_created_total"
    )
    assert created > 0
    assert moved == created


def test_prometheus_stores_exactly_the_counts_sent(run: Run) -> None:
    require_tool("prometheus")
    prometheus = run.prometheus
    assert prometheus is not None
    wait_until(
        lambda: (
            prometheus.scraped_after(GATEWAY, run.ended_at)
            and prometheus.scraped_after(ORDER_API, run.ended_at)
        ),
        20,
        "a Prometheus scrape of both services newer than the end of the traffic",
    )
    expected_http = run.before.http + run.tally.http
    expected_grpc = run.before.grpc + run.tally.rpc
    gateway = f'{{job="{GATEWAY}"}}'
    order_api = f'{{job="{ORDER_API}"}}'
    stored_http = prometheus_counts(prometheus, f"http_requests_total{gateway}", HTTP_LABELS)
    stored_durations = prometheus_counts(
        prometheus, f"http_request_duration_seconds_count{gateway}", HTTP_LABELS
    )
    assert stored_http == expected_http
    assert stored_durations == expected_http
    # Counter addition drops zeros; the order-api publishes a zero per method up front.
    stored_grpc = prometheus_counts(
        prometheus, f"grpc_requests_total{order_api}", ("method", "status")
    )
    assert +stored_grpc == +expected_grpc
