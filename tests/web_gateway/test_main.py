"""`python -m services.web_gateway` as a process, in front of `python -m services.order_api`."""

from __future__ import annotations

import contextlib
import datetime
import http.client
import itertools
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_stack.harness.certificates import new_authority, write_identity
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.http_call import Answer, call
from otel_stack.harness.readiness import grpc_serving
from otel_stack.harness.running import GATEWAY, ORDER_API, Stack, free_port, running_stack
from services.web_gateway.__main__ import SERVER_MAX_BODY_BYTES
from services.web_gateway.app import MAX_BODY_BYTES
from tests.support import REPO
from tests.support.polling import wait_until
from tests.web_gateway.bodies import order

START_TIMEOUT = 20.0
# gRPC's C core logs its own errors to stderr as e.g. "E1129 04:04:53.375951 11583 file.cc:83] ...".
_GRPC_CORE_LOG_LINE = re.compile(r"[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


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


LaunchStack = Callable[..., Stack]


@pytest.fixture
def launch_stack(tmp_path: Path) -> Iterator[LaunchStack]:
    """Start an order-api and a gateway on free ports, telemetry off (extra variables for both)."""
    launched = itertools.count()
    with contextlib.ExitStack() as stacks:

        def launch(**environ: str) -> Stack:
            data_dir = tmp_path / f"stack-{next(launched)}"
            return stacks.enter_context(
                running_stack(data_dir, environ={"OTEL_SDK_DISABLED": "true", **environ})
            )

        yield launch


def run_gateway(**environ: str) -> subprocess.CompletedProcess[str]:
    """Run the gateway to completion (for start-up failures) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "services.web_gateway"],
        env=child_environ({"OTEL_SDK_DISABLED": "true", **environ}),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def test_orders_are_created_and_read_over_http_and_both_exit_0_on_sigterm(
    launch_stack: LaunchStack,
) -> None:
    stack = launch_stack()

    created = call("POST", f"{stack.gateway_url}/orders", order(customer_id="over-http"))
    assert created.status == 201, created.body
    order_id = created.json()["id"]
    read = call("GET", f"{stack.gateway_url}/orders/{order_id}")
    assert (read.status, read.json()) == (200, created.json())

    assert stack.stop(GATEWAY) == 0
    assert stack.stop(ORDER_API) == 0
    assert "web-gateway stopped" in stack.log(GATEWAY)
    assert "Traceback" not in stack.log(GATEWAY)


def test_health_listener_serves_probes_and_closes_on_sigterm(launch_stack: LaunchStack) -> None:
    port = free_port()
    health = f"127.0.0.1:{port}"
    stack = launch_stack(GATEWAY_HEALTH_LISTEN=health)

    assert call("GET", f"http://{health}/readyz").json() == {"status": "ready"}
    assert f"health on {health}" in stack.log(GATEWAY)
    assert stack.stop(GATEWAY) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert "Traceback" not in stack.log(GATEWAY)


def test_sigint_exits_0(launch_stack: LaunchStack) -> None:
    stack = launch_stack()

    stack.processes[GATEWAY].send_signal(signal.SIGINT)

    assert stack.processes[GATEWAY].wait(timeout=15) == 0
    assert "Traceback" not in stack.log(GATEWAY)


def test_request_in_flight_during_sigterm_completes(launch_stack: LaunchStack) -> None:
    # One order-api worker, held for a second by each GetOrder: while the gateway's call is
    # in flight, the order-api cannot answer anything else.
    stack = launch_stack(ORDER_API_WORKERS="1", ORDER_API_FAULTS="latency:GetOrder=1s")
    order_id = call("POST", f"{stack.gateway_url}/orders", order()).json()["id"]
    answers: list[Answer] = []
    reader = threading.Thread(
        target=lambda: answers.append(call("GET", f"{stack.gateway_url}/orders/{order_id}"))
    )
    reader.start()
    wait_until(
        lambda: not grpc_serving(stack.order_api_target, timeout=0.1),
        START_TIMEOUT,
        "the GET to be in flight",
    )

    stack.processes[GATEWAY].send_signal(signal.SIGTERM)
    reader.join(timeout=15)

    assert [answer.status for answer in answers] == [200]
    assert stack.processes[GATEWAY].wait(timeout=15) == 0


def test_body_over_the_app_limit_is_json_413(launch_stack: LaunchStack) -> None:
    stack = launch_stack()

    answer = post_headers_only(stack.gateway_url, MAX_BODY_BYTES + 1)

    assert (answer.status, answer.content_type) == (413, "application/json")
    assert json.loads(answer.body)["error"]["code"] == "request_entity_too_large"


def test_body_over_the_server_limit_is_refused_by_the_server_as_plain_text(
    launch_stack: LaunchStack,
) -> None:
    stack = launch_stack()

    answer = post_headers_only(stack.gateway_url, SERVER_MAX_BODY_BYTES + 1)

    assert (answer.status, answer.content_type.split(";")[0]) == (413, "text/plain")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_LISTEN", "nonsense"),
        ("ORDER_API_TARGET", "no-port"),
        ("ORDER_API_TIMEOUT", "61"),
        ("GATEWAY_THREADS", "0"),
        ("GATEWAY_GRACE_SECONDS", "soon"),
        ("GATEWAY_PROCESSES", "0"),
        ("GATEWAY_PROCESSES", "abc"),
        ("GATEWAY_PROCESSES", "33"),
        ("GATEWAY_HEALTH_LISTEN", "nonsense"),
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


def test_health_port_in_use_exits_1_with_one_line_naming_the_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = run_gateway(GATEWAY_LISTEN="127.0.0.1:0", GATEWAY_HEALTH_LISTEN=address)

    assert result.returncode == 1
    ours = [line for line in result.stderr.splitlines() if not _GRPC_CORE_LOG_LINE.match(line)]
    assert len(ours) == 1, result.stderr
    assert ours[0].startswith(f"web-gateway: GATEWAY_HEALTH_LISTEN: cannot listen on {address}")
    assert "Traceback" not in result.stderr


def test_unreadable_order_api_ca_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "ca.crt"
    result = run_gateway(GATEWAY_LISTEN="127.0.0.1:0", ORDER_API_CA=str(missing))

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line == f"web-gateway: ORDER_API_CA='{missing}': cannot read: No such file or directory"


def test_expired_client_certificate_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    authority = new_authority()
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    expired = write_identity(
        tmp_path / "tls", authority, "web-gateway", not_before=past, not_after=past
    )
    result = run_gateway(
        GATEWAY_LISTEN="127.0.0.1:0",
        ORDER_API_CA=str(expired.ca),
        ORDER_API_CLIENT_CERT=str(expired.cert),
        ORDER_API_CLIENT_KEY=str(expired.key),
    )

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"web-gateway: ORDER_API_CLIENT_CERT='{expired.cert}': certificate ")
    assert "expired at" in line


def test_client_key_without_a_certificate_exits_2_naming_both() -> None:
    result = run_gateway(
        GATEWAY_LISTEN="127.0.0.1:0", ORDER_API_CA="/ca.crt", ORDER_API_CLIENT_KEY="/tls.key"
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "web-gateway: ORDER_API_CLIENT_KEY is set but ORDER_API_CLIENT_CERT is not: "
        "set both or neither"
    ]
