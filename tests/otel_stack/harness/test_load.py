"""The traffic generator (load.py, mix.py): exact counts against the gateway, and bounds."""

from __future__ import annotations

import http.server
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_stack.harness.load import LoadConfig, LoadConfigError, LoadGenerator, check_target
from otel_stack.harness.mix import (
    ABUSIVE_WEIGHTS,
    ORDER_ROUTE,
    ORDERS_ROUTE,
    WEIGHTS,
    Kind,
    KnownOrders,
    next_request,
)
from otel_stack.harness.running import running_stack
from otel_stack.harness.scrape import scrape
from tests.otel_stack.cli.stack_run import run_cli
from tests.support.http_server import serving_http
from tests.support.polling import wait_until

REQUESTS = 300


class _ForgetfulGateway(http.server.BaseHTTPRequestHandler):
    """Answers like the gateway, then drops the connection without saying so."""

    protocol_version = "HTTP/1.1"
    received: Counter[tuple[str, str]] = Counter()

    def do_GET(self) -> None:
        self._answer(404 if "unknown" in self.path else 200, b"{}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        valid = len(json.loads(body).get("items", [])) > 0 and b'"quantity": 0' not in body
        self._answer(201 if valid else 400, b'{"id": "o-1"}' if valid else b"{}")

    def _answer(self, status: int, body: bytes) -> None:
        type(self).received[(self.command, str(status))] += 1
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # an idle timeout, as far as the client can tell

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def forgetful_gateway() -> Iterator[str]:
    _ForgetfulGateway.received = Counter()
    with serving_http(_ForgetfulGateway) as url:
        yield url


def test_connections_closed_by_the_server_are_reopened_not_failed(forgetful_gateway: str) -> None:
    config = LoadConfig(target=forgetful_gateway, rate=0, duration=30, max_requests=100, seed=3)
    summary = LoadGenerator(config).run()
    assert summary.total == 100
    assert not summary.failures
    answered: Counter[tuple[str, str]] = Counter()
    for (method, _, status), count in summary.counts.items():
        answered[(method, str(status))] += count
    assert answered == _ForgetfulGateway.received


def test_latency_is_kept_per_route_for_every_answered_request(forgetful_gateway: str) -> None:
    config = LoadConfig(target=forgetful_gateway, rate=0, duration=30, max_requests=50, seed=5)
    generator = LoadGenerator(config)
    summary = generator.run()
    per_route: Counter[str] = Counter()
    for (method, route, _), count in summary.counts.items():
        per_route[f"{method} {route}"] += count
    latency = generator.latency_by_route()
    assert {name: buckets[-1][1] for name, buckets in latency.items()} == per_route


def _gateway_counts(metrics_url: str) -> dict[tuple[str, str, int], int]:
    counts = scrape(metrics_url).counter("http_requests_total", ("method", "route", "status_code"))
    return {
        (method, route, int(status)): int(value)
        for (method, route, status), value in counts.items()
        if route in (ORDERS_ROUTE, ORDER_ROUTE) and value
    }


def test_summary_counts_equal_the_gateway_request_counter(tmp_path: Path) -> None:
    with running_stack(tmp_path, launcher=True) as stack:
        config = LoadConfig(
            target=stack.gateway_url, rate=0, duration=60, max_requests=REQUESTS, seed=7
        )
        summary = LoadGenerator(config).run()
        assert summary.total == REQUESTS
        assert not summary.failures
        expected = dict(summary.counts)
        # Every kind of request of the mix was answered as it should be.
        assert {status for (kind, status) in summary.by_kind if kind is Kind.GET_UNKNOWN} == {404}
        assert {status for (kind, status) in summary.by_kind if kind is Kind.CREATE_INVALID} == {
            400
        }
        assert {status for (kind, status) in summary.by_kind if kind is Kind.GET_ORDER} == {200}
        url = stack.gateway_url + "/metrics"
        # The gateway may count a request just after answering it: poll briefly.
        wait_until(lambda: _gateway_counts(url) == expected, 5, "gateway counts to match")


def test_rate_paces_requests_open_loop(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        summary = LoadGenerator(LoadConfig(target=stack.gateway_url, rate=40, duration=1.5)).run()
    # Requests are due at 0, 1/40, ... < 1.5 s: exactly 60 of them.
    assert summary.total == 60


@pytest.mark.parametrize(
    ("target", "address"),
    [
        ("http://127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("http://127.1.2.3:1", ("127.1.2.3", 1)),
        ("http://localhost:80", ("localhost", 80)),
        ("http://[::1]:8080", ("::1", 8080)),
    ],
)
def test_loopback_targets_are_allowed(target: str, address: tuple[str, int]) -> None:
    assert check_target(target, allow_remote=False) == address


@pytest.mark.parametrize("target", ["http://web-gateway:8080", "http://10.0.0.5:8080"])
def test_remote_targets_need_allow_remote(target: str) -> None:
    with pytest.raises(LoadConfigError, match="--allow-remote"):
        check_target(target, allow_remote=False)
    check_target(target, allow_remote=True)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (LoadConfig(concurrency=65), "concurrency"),
        (LoadConfig(duration=86_401), "duration"),
        (LoadConfig(max_requests=0), "requests"),
        (LoadConfig(target="ftp://127.0.0.1/"), "http://"),
    ],
)
def test_out_of_bounds_settings_are_refused(config: LoadConfig, message: str) -> None:
    with pytest.raises(LoadConfigError, match=message):
        config.validate()


def test_cli_refuses_a_remote_target_without_allow_remote() -> None:
    result = run_cli(
        [sys.executable, "-m", "otel_stack", "load", "--target", "http://web-gateway:8080"]
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "otel-stack load: error: target 'http://web-gateway:8080' is not a loopback address; "
        "pass --allow-remote to send load to it"
    ]


def test_reads_become_creates_until_an_order_is_known() -> None:
    rng = random.Random(1)
    requests = [next_request(rng, KnownOrders()) for _ in range(200)]
    assert Kind.GET_ORDER not in {request.kind for request in requests}
    assert Kind.CREATE_ORDER in {request.kind for request in requests}


def test_mix_is_mostly_reads_of_known_orders() -> None:
    rng, known = random.Random(1), KnownOrders()
    known.add("abc")
    kinds = [next_request(rng, known).kind for _ in range(2000)]
    assert 0.5 < kinds.count(Kind.GET_ORDER) / len(kinds) < 0.7
    assert set(kinds) == set(WEIGHTS)


def test_abusive_mix_has_every_kind_and_calls_the_order_api_only_for_valid_shapes() -> None:
    rng, known = random.Random(2), KnownOrders()
    known.add("abc")
    requests = [next_request(rng, known, ABUSIVE_WEIGHTS) for _ in range(2000)]
    assert {request.kind for request in requests} == set(Kind)
    refused_by_the_gateway = {
        Kind.GET_MALFORMED_ID,
        Kind.CREATE_MALFORMED_JSON,
        Kind.CREATE_WRONG_TYPE,
        Kind.UNMATCHED_PATH,
        Kind.WRONG_METHOD,
        Kind.WRONG_MEDIA_TYPE,
    }
    for request in requests:
        if request.kind in refused_by_the_gateway:
            assert request.rpc is None and request.status >= 400, request
