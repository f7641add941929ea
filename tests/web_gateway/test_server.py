"""The gateway's HTTP server in process: limit, deadlines, drain, the epoll loop, descriptors.

A tiny WSGI app stands in for the gateway's (the server does not depend on it);
the server runs on a free loopback port in a thread and is drained after each test.
"""

from __future__ import annotations

import http.client
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.envconfig import ConfigError
from services.web_gateway import server as server_module
from services.web_gateway.dispatcher import LastIdleFirstDispatcher
from services.web_gateway.server import (
    GatewayServer,
    ServerSettings,
    create_server,
    raise_descriptor_limit,
    serve,
)
from tests.support.polling import wait_until

SETTINGS = ServerSettings(
    threads=2,
    max_connections=10,
    header_timeout=1.0,
    body_timeout=1.0,
    keepalive_timeout=1.0,
    max_header_bytes=16 * 1024,
    max_body_bytes=1024 * 1024,
    app_max_body_bytes=64 * 1024,
)


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def running() -> Iterator[GatewayServer]:
    gateway = create_server(_app, ("127.0.0.1", 0), SETTINGS)
    thread = serve(gateway)
    yield gateway
    gateway.drain(1.0, on_grace_expired=lambda: None)
    thread.join(timeout=10)
    assert not thread.is_alive()


def _post(port: int, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("POST", "/", body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_requests_are_served_while_descriptor_numbers_are_reused(
    running: GatewayServer,
) -> None:
    # Connections closing and opening within one loop turn reuse descriptor numbers: each
    # new socket must still be watched, or its request would wait for its deadline.
    for round_number in range(100):
        for _ in range(3):
            socket.create_connection(("127.0.0.1", running.port)).close()
        started = time.monotonic()
        assert _post(running.port, b"round %d" % round_number) == (200, b"round %d" % round_number)
        assert time.monotonic() - started < SETTINGS.header_timeout


def test_a_connection_that_dribbles_its_headers_is_closed_at_the_header_deadline(
    running: GatewayServer,
) -> None:
    with socket.create_connection(("127.0.0.1", running.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 5:
            sock.sendall(b"X")  # activity: an idle timeout alone would never fire
            closed = _closed_by_server(sock, 0.2)
        assert closed
        assert time.monotonic() - started < SETTINGS.header_timeout + 2


def _thread_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = threading.current_thread().name.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def test_requests_one_after_another_are_served_by_one_worker_thread() -> None:
    gateway = create_server(_thread_app, ("127.0.0.1", 0), SETTINGS)
    dispatcher = gateway.task_dispatcher
    thread = serve(gateway)
    try:
        assert isinstance(dispatcher, LastIdleFirstDispatcher)
        assert len(dispatcher.threads) == SETTINGS.threads
        names = set()
        for _ in range(6):
            names.add(_post(gateway.port, b"")[1])
            # Its worker waits again once it has answered, as between a client's requests.
            wait_until(lambda: dispatcher.active_count == 0, 5, "the worker to wait")
    finally:
        gateway.drain(1.0, on_grace_expired=lambda: None)
        thread.join(timeout=10)

    assert len(names) == 1, names


def test_beyond_the_limit_a_connection_gets_the_json_503(running: GatewayServer) -> None:
    held = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(10)]
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=2) as extra:
            answer = extra.recv(4096)
        assert answer == server_module.REFUSAL
        assert running.refused_connections == 1
        assert running.connection_counts() == (0, 10)
    finally:
        for sock in held:
            sock.close()


def test_a_declared_body_over_the_app_limit_reaches_the_app_unread(
    running: GatewayServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=2)
    connection.putrequest("POST", "/")
    connection.putheader("Content-Length", str(SETTINGS.app_max_body_bytes + 1))
    connection.endheaders()  # the body is never sent
    response = connection.getresponse()
    assert response.status == 200  # this app reads what there is: nothing
    assert response.getheader("Connection") == "close"
    connection.close()


def test_drain_closes_idle_connections_and_returns_at_once(running: GatewayServer) -> None:
    with socket.create_connection(("127.0.0.1", running.port)) as idle:
        assert _post(running.port, b"x") == (200, b"x")
        started = time.monotonic()
        running.drain(5.0, on_grace_expired=lambda: pytest.fail("grace should not expire"))
        assert time.monotonic() - started < 1.0
        assert _closed_by_server(idle, 1.0)


def test_drain_runs_the_grace_callback_when_a_request_outlasts_it() -> None:
    release = threading.Event()

    def slow(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        release.wait(10)
        start_response("502 Bad Gateway", [("Content-Length", "0")])
        return []

    gateway = create_server(slow, ("127.0.0.1", 0), SETTINGS)
    thread = serve(gateway)
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(_post(gateway.port, b"")[0]))
    caller.start()
    wait_until(lambda: gateway.connection_counts()[0] > 0, 5, "the request to reach a worker")
    started = time.monotonic()
    gateway.drain(0.5, on_grace_expired=release.set)
    thread.join(timeout=5)
    caller.join(timeout=5)
    assert release.is_set()
    assert time.monotonic() - started < 2.0
    assert answers == [502]


def test_descriptor_limit_is_raised_for_the_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    limits: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 1 << 20))
    monkeypatch.setattr(resource, "setrlimit", lambda _which, value: limits.append(value))
    assert raise_descriptor_limit(1000) == 1064
    assert limits == [(1064, 1 << 20)]


def test_descriptor_limit_below_the_need_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 1024))
    with pytest.raises(ConfigError, match=r"^GATEWAY_MAX_CONNECTIONS=1000: needs 1064"):
        raise_descriptor_limit(1000)
