"""Probes that survive overload: the gateway's health listener (GATEWAY_HEALTH_LISTEN).

A gateway with a small connection limit has every slot of its main port held by
silent connections while more keep arriving: API clients get the documented JSON
`503` with `Retry-After`, and liveness and readiness on the health port answer
`200` within a second throughout (each probe's socket times out after a second:
a functional deadline, not a benchmark). A flood on the health port itself is
refused there, without touching the API. Readiness on the health port still says
whether the order-api serves. With worker processes, every worker of each service
listens on its health port (SO_REUSEPORT), the order-api's included.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2

from otel_stack.harness.running import GATEWAY, ORDER_API, Stack, free_port, running_stack
from tests.support.flood import (
    close_all,
    fill,
    hold_after_a_request,
    open_connections,
    refusals,
)
from tests.support.http_client import HttpClient, Probe, order_body, probe
from tests.support.order_api import health_status
from tests.support.polling import wait_until

LIMIT = 50
HEALTH_LIMIT = 32  # services.web_gateway.health.HEALTH_SETTINGS.max_connections
EXCESS_PER_ROUND = 10
FLOOD_SECONDS = 5.0
PROBE_DEADLINE_SECONDS = 1.0
# Held connections must outlive the test: their header deadline is far away.
ENVIRON = {
    "GATEWAY_MAX_CONNECTIONS": str(LIMIT),
    "GATEWAY_HEADER_TIMEOUT": "120",
    "ACCESS_LOG": "off",
}


def _probe(base_url: str, path: str) -> Probe:
    return probe(base_url, path, timeout=PROBE_DEADLINE_SECONDS)


@dataclass
class Gateway:
    stack: Stack
    health_url: str

    @property
    def port(self) -> int:
        return int(self.stack.gateway_url.rsplit(":", 1)[1])

    @property
    def health_port(self) -> int:
        return int(self.health_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    health = f"127.0.0.1:{free_port()}"
    environ = {**ENVIRON, "GATEWAY_HEALTH_LISTEN": health}
    with running_stack(tmp_path_factory.mktemp("probes"), environ=environ) as stack:
        yield Gateway(stack, f"http://{health}")


def _is_documented_refusal(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return (
        lines[0] == b"HTTP/1.1 503 Service Unavailable"
        and b"Retry-After: 1" in lines
        and b"Content-Type: application/json" in lines
        and json.loads(body)["error"]["code"] == "unavailable"
    )


def test_probes_answer_on_the_health_port_while_the_main_port_is_full(gateway: Gateway) -> None:
    held = fill(gateway.port, LIMIT)
    refused_answers: list[bytes] = []
    probes: list[Probe] = []
    try:
        ends = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < ends:
            batch = open_connections(gateway.port, EXCESS_PER_ROUND)
            for path in ("/healthz", "/readyz"):
                probes.append(_probe(gateway.health_url, path))
            answered = refusals(batch, EXCESS_PER_ROUND, 5.0)
            close_all(batch)
            refused_answers.extend(answered.answers)
            assert answered.silent == 0, "a connection beyond the limit was accepted"
    finally:
        close_all(held)
    assert len(probes) >= 10, "the probes hardly ran"
    late = [p for p in probes if p.status != 200 or p.seconds >= PROBE_DEADLINE_SECONDS]
    assert late == [], late[:5]
    assert len(refused_answers) >= 5 * EXCESS_PER_ROUND
    wrong = [a for a in refused_answers if not _is_documented_refusal(a)]
    assert wrong == [], wrong[:3]


def test_a_flood_on_the_health_port_is_refused_there_and_the_api_keeps_serving(
    gateway: Gateway,
) -> None:
    # Held for the health port's keep-alive timeout (10 s): its header deadline is 2 s.
    held = hold_after_a_request(gateway.health_port, HEALTH_LIMIT)
    try:
        excess = refusals(open_connections(gateway.health_port, 5), 5, 5.0)
        assert len(excess.answers) == 5
        assert all(a.startswith(b"HTTP/1.1 503 ") for a in excess.answers), excess
        with HttpClient(gateway.stack.gateway_url) as client:
            created = client.post_json("/orders", order_body("health-flood"))
            assert created.status == 201
            assert client.get("/readyz").status == 200
    finally:
        close_all(held)
    wait_until(lambda: _probe(gateway.health_url, "/healthz").status == 200, 10, "room")


def test_only_the_probes_are_served_on_the_health_port(gateway: Gateway) -> None:
    with HttpClient(gateway.health_url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        for path in ("/orders", "/metrics", "/openapi.json"):
            reply = client.get(path)
            assert (reply.status, reply.json()["error"]["code"]) == (404, "not_found"), path


def test_readiness_on_the_health_port_follows_the_order_api(gateway: Gateway) -> None:
    stack = gateway.stack
    stack.stop(ORDER_API)
    try:
        wait_until(lambda: _probe(gateway.health_url, "/readyz").status == 503, 15, "not ready")
        with HttpClient(gateway.health_url) as client:
            assert client.get("/readyz").json()["error"]["code"] == "not_ready"
            assert client.get("/healthz").status == 200
    finally:
        stack.restart(ORDER_API)
    wait_until(lambda: _probe(gateway.health_url, "/readyz").status == 200, 30, "ready again")


def _listening_ports(pid: int) -> set[int]:
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}


def test_every_worker_listens_on_its_health_port(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    gateway_health, order_api_health = free_port(), free_port()
    environ = {
        "GATEWAY_PROCESSES": "2",
        "ORDER_API_PROCESSES": "2",
        "GATEWAY_HEALTH_LISTEN": f"127.0.0.1:{gateway_health}",
        "ORDER_API_HEALTH_LISTEN": f"127.0.0.1:{order_api_health}",
        "ACCESS_LOG": "off",
    }
    data_dir = tmp_path_factory.mktemp("health-workers")
    with running_stack(data_dir, environ=environ, worker_processes=2) as stack:
        for name, port in ((GATEWAY, gateway_health), (ORDER_API, order_api_health)):
            workers = psutil.Process(stack.processes[name].pid).children()
            assert len(workers) == 2, name
            assert all(port in _listening_ports(worker.pid) for worker in workers), name
        for _ in range(4):  # the kernel picks a worker per connection: all must answer
            assert _probe(f"http://127.0.0.1:{gateway_health}", "/readyz").status == 200
            with grpc.insecure_channel(f"127.0.0.1:{order_api_health}") as channel:
                serving = health_status(channel, timeout=5)
            assert serving == health_pb2.HealthCheckResponse.SERVING
