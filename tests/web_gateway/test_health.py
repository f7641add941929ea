"""The health listener in process: only the probes pass, its own bound, its own threads.

The gateway's real app answers (its order-api client points at a closed port, so
readiness says 503 as on the main port); the listener runs on a free loopback port
and is drained after each test.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from otel_stack.harness.running import free_port
from services.web_gateway.app import create_app
from services.web_gateway.config import Config
from services.web_gateway.health import HEALTH_SETTINGS, create_health_server
from services.web_gateway.server import GatewayServer, serve
from tests.support.flood import close_all, hold_after_a_request, open_connections, refusals


@pytest.fixture
def health() -> Iterator[GatewayServer]:
    config = Config(order_api_target=f"127.0.0.1:{free_port()}", order_api_timeout=0.5)
    app = create_app(config)
    server = create_health_server(app, ("127.0.0.1", 0))
    thread = serve(server)
    yield server
    server.drain(1.0, on_grace_expired=lambda: None)
    thread.join(timeout=10)
    assert not thread.is_alive()


def _request(port: int, method: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_liveness_and_readiness_are_the_apps_own(health: GatewayServer) -> None:
    assert _request(health.port, "GET", "/healthz") == (200, b'{"status":"ok"}\n')
    status, body = _request(health.port, "GET", "/readyz")
    assert (status, b'"not_ready"' in body) == (503, True)  # no order-api listening


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/orders"), ("POST", "/orders"), ("GET", "/metrics"), ("POST", "/healthz")],
)
def test_anything_but_a_probe_is_a_json_404(health: GatewayServer, method: str, path: str) -> None:
    status, body = _request(health.port, method, path)
    assert status == 404
    assert json.loads(body) == {
        "error": {"code": "not_found", "message": "this port serves only /healthz and /readyz"}
    }


def test_head_of_a_probe_is_answered_without_a_body(health: GatewayServer) -> None:
    assert _request(health.port, "HEAD", "/healthz") == (200, b"")


def test_connections_beyond_its_own_bound_are_refused(health: GatewayServer) -> None:
    excess = 8
    held = hold_after_a_request(health.port, HEALTH_SETTINGS.max_connections)
    extra = open_connections(health.port, excess)
    try:
        refused = refusals(extra, excess, 5.0)
        assert [answer[:13] for answer in refused.answers] == [b"HTTP/1.1 503 "] * excess
    finally:
        close_all(held + extra)


def test_it_binds_with_so_reuseport_when_asked() -> None:
    port = free_port()
    first = create_health_server(create_app(Config()), ("127.0.0.1", port), reuse_port=True)
    second = create_health_server(create_app(Config()), ("127.0.0.1", port), reuse_port=True)
    try:
        assert first.port == second.port == port
    finally:
        first.close()
        second.close()
