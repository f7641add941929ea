"""`python -m services.web_gateway` as a process, in front of `python -m services.order_api`."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.web_gateway.__main__ import SERVER_MAX_BODY_BYTES
from services.web_gateway.app import MAX_BODY_BYTES
from tests.helpers import REPO, clean_environ, free_port, start_process, terminate, wait_until
from tests.web_gateway.support import order

START_TIMEOUT = 20.0
# gRPC's C core logs its own errors to stderr as e.g. "E1129 04:04:53.375951 11583 file.cc:83] ...".
_GRPC_CORE_LOG_LINE = re.compile(r"[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


@dataclass
class Service:
    """One service process and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the process wrote so far."""
        return self.log_path.read_text(errors="replace")

    def check_running(self) -> None:
        """Fail, showing the log, if the process has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"exited {self.process.returncode}:\n{self.log()}")


@dataclass
class Stack:
    """A running order-api and a web-gateway in front of it."""

    order_api: Service
    gateway: Service
    grpc_target: str
    url: str


@dataclass
class Answer:
    """An HTTP response, read whole."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def call(method: str, url: str, document: object = None) -> Answer:
    """Send one request with urllib; 4xx and 5xx are answers too."""
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers["Content-Type"], error.read())


def post_headers_only(url: str, content_length: int) -> Answer:
    """POST /orders announcing a body of `content_length` bytes, and read the answer unsent."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("POST", "/orders")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(content_length))
        connection.endheaders()
        response = connection.getresponse()
        return Answer(response.status, response.headers["Content-Type"], response.read())
    finally:
        connection.close()


def _grpc_busy(target: str) -> bool:
    """Whether the order-api cannot answer a health check within 0.1 s."""
    with grpc.insecure_channel(target) as channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=0.1)
        except grpc.RpcError:
            return True
    return False


LaunchStack = Callable[..., Stack]


@pytest.fixture
def launch_stack(tmp_path: Path) -> Iterator[LaunchStack]:
    """Start an order-api and a gateway on free ports (extra variables for the order-api)."""
    services: list[Service] = []

    def start(module: str, log_name: str, **environ: str) -> Service:
        log_path = tmp_path / log_name
        process = start_process(["-m", module], clean_environ(**environ), log_path=log_path)
        services.append(Service(process, log_path))
        return services[-1]

    def launch(**order_api_environ: str) -> Stack:
        grpc_target = f"127.0.0.1:{free_port()}"
        listen = f"127.0.0.1:{free_port()}"
        order_api = start(
            "services.order_api",
            "order-api.log",
            ORDER_API_LISTEN=grpc_target,
            ORDER_API_DB=str(tmp_path / "orders.db"),
            OTEL_SDK_DISABLED="true",
            **order_api_environ,
        )
        gateway = start(
            "services.web_gateway",
            "web-gateway.log",
            GATEWAY_LISTEN=listen,
            ORDER_API_TARGET=grpc_target,
            OTEL_SDK_DISABLED="true",
        )
        stack = Stack(order_api, gateway, grpc_target, f"http://{listen}")

        def ready() -> bool:
            order_api.check_running()
            gateway.check_running()
            try:
                return call("GET", f"{stack.url}/readyz").status == 200
            except OSError:
                return False

        wait_until(ready, START_TIMEOUT, "the gateway's /readyz to answer 200")
        return stack

    yield launch
    for service in services:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=10)


def run_gateway(**environ: str) -> subprocess.CompletedProcess[str]:
    """Run the gateway to completion (for start-up failures) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "services.web_gateway"],
        env=clean_environ(OTEL_SDK_DISABLED="true", **environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def test_orders_are_created_and_read_over_http_and_both_exit_0_on_sigterm(
    launch_stack: LaunchStack,
) -> None:
    stack = launch_stack()

    created = call("POST", f"{stack.url}/orders", order(customer_id="over-http"))
    assert created.status == 201, created.body
    order_id = created.json()["id"]
    read = call("GET", f"{stack.url}/orders/{order_id}")
    assert (read.status, read.json()) == (200, created.json())

    assert terminate(stack.gateway.process) == 0
    assert terminate(stack.order_api.process) == 0
    assert "web-gateway stopped" in stack.gateway.log()
    assert "Traceback" not in stack.gateway.log()


def test_sigint_exits_0(launch_stack: LaunchStack) -> None:
    stack = launch_stack()

    stack.gateway.process.send_signal(signal.SIGINT)

    assert stack.gateway.process.wait(timeout=15) == 0
    assert "Traceback" not in stack.gateway.log()


def test_request_in_flight_during_sigterm_completes(launch_stack: LaunchStack) -> None:
    # One order-api worker, held for a second by each GetOrder: while the gateway's call is
    # in flight, the order-api cannot answer anything else.
    stack = launch_stack(ORDER_API_WORKERS="1", ORDER_API_FAULTS="latency:GetOrder=1s")
    order_id = call("POST", f"{stack.url}/orders", order()).json()["id"]
    answers: list[Answer] = []
    reader = threading.Thread(
        target=lambda: answers.append(call("GET", f"{stack.url}/orders/{order_id}"))
    )
    reader.start()
    wait_until(lambda: _grpc_busy(stack.grpc_target), START_TIMEOUT, "the GET to be in flight")

    stack.gateway.process.send_signal(signal.SIGTERM)
    reader.join(timeout=15)

    assert [answer.status for answer in answers] == [200]
    assert stack.gateway.process.wait(timeout=15) == 0


def test_body_over_the_app_limit_is_json_413(launch_stack: LaunchStack) -> None:
    stack = launch_stack()

    answer = post_headers_only(stack.url, MAX_BODY_BYTES + 1)

    assert (answer.status, answer.content_type) == (413, "application/json")
    assert json.loads(answer.body)["error"]["code"] == "request_entity_too_large"


def test_body_over_the_server_limit_is_refused_by_the_server_as_plain_text(
    launch_stack: LaunchStack,
) -> None:
    stack = launch_stack()

    answer = post_headers_only(stack.url, SERVER_MAX_BODY_BYTES + 1)

    assert (answer.status, answer.content_type.split(";")[0]) == (413, "text/plain")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_LISTEN", "nonsense"),
        ("ORDER_API_TARGET", "no-port"),
        ("ORDER_API_TIMEOUT", "61"),
        ("GATEWAY_THREADS", "0"),
        ("GATEWAY_GRACE_SECONDS", "soon"),
    ],
)
def test_bad_variable_exits_2_with_one_line_naming_it(name: str, value: str) -> None:
    result = run_gateway(**{"GATEWAY_LISTEN": "127.0.0.1:0", name: value})

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"web-gateway: {name}=")
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_1_with_one_line_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = run_gateway(GATEWAY_LISTEN=address)

    assert result.returncode == 1
    ours = [line for line in result.stderr.splitlines() if not _GRPC_CORE_LOG_LINE.match(line)]
    assert len(ours) == 1, result.stderr
    assert ours[0].startswith(f"web-gateway: cannot listen on {address}")
    assert "Traceback" not in result.stderr
