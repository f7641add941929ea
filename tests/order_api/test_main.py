"""`python -m services.order_api` as a process: start-up errors, SIGTERM draining, crashes."""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from otel_stack.harness import processes, running
from otel_stack.harness.certificates import IdentityFiles, new_authority, write_identity
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.local_postgres import PostgresServer
from otel_stack.harness.processes import Service
from otel_stack.harness.running import free_port
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support import REPO
from tests.support.order_api import create_request, health_status
from tests.support.polling import wait_until

START_TIMEOUT = 20.0
# Reconnect quickly while polling a process that is still starting (gRPC's default backoff is 1 s).
_FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
]
# gRPC's C core logs its own errors to stderr as e.g. "E1129 04:04:53.375951 11583 file.cc:83] ...".
_GRPC_CORE_LOG_LINE = re.compile(r"[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


@dataclass
class OrderApiProcess:
    """A running `python -m services.order_api` (started by the stack's process harness)."""

    service: Service
    target: str
    channel: grpc.Channel

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The child process."""
        return self.service.process

    @property
    def stub(self) -> orders_pb2_grpc.OrderServiceStub:
        """A stub on the process's channel."""
        return orders_pb2_grpc.OrderServiceStub(self.channel)

    def log(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        return self.service.log()


def _serving(target: str, log_path: Path, channel: grpc.Channel) -> bool:
    # The log line proves the port is ours, not taken by another test run in between.
    if f"serving gRPC on {target}" not in log_path.read_text(errors="replace"):
        return False
    return bool(health_status(channel) == health_pb2.HealthCheckResponse.SERVING)


def _environ(**overrides: str) -> dict[str, str]:
    return child_environ({"OTEL_SDK_DISABLED": "true", **overrides})


def _run(**overrides: str) -> subprocess.CompletedProcess[str]:
    """Run the order-api to completion (for start-up failures) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "services.order_api"],
        env=_environ(**overrides),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


Launch = Callable[..., OrderApiProcess]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start order-api processes on free ports over one database; kill leftovers after the test."""
    launched: list[OrderApiProcess] = []

    def start(**overrides: str) -> OrderApiProcess:
        target = f"127.0.0.1:{free_port()}"
        log_path = tmp_path / f"order-api-{len(launched)}.log"
        channel = grpc.insecure_channel(target, options=_FAST_RECONNECT)
        spec = running.order_api_spec(
            log_path, _environ(), listen=target, db=str(tmp_path / "orders.db")
        )
        spec = dataclasses.replace(
            spec,
            env={**spec.env, **overrides},
            ready=lambda: _serving(target, log_path, channel),
            ready_description=f"order-api on {target} to serve",
        )
        try:
            service = processes.start(spec, timeout=START_TIMEOUT)
        except BaseException:
            channel.close()
            raise
        launched.append(OrderApiProcess(service, target, channel))
        return launched[-1]

    yield start
    for order_api in launched:
        order_api.channel.close()
        order_api.service.signal(signal.SIGKILL)
        order_api.process.wait(timeout=10)


def _wait_until_the_only_worker_is_busy(order_api: OrderApiProcess) -> None:
    """Return once a call sent earlier holds the server's single worker thread.

    Calls on one channel reach the server in order, so a health check that cannot be
    answered in time is queued behind the call sent before it: that call is in flight.
    """
    wait_until(
        lambda: health_status(order_api.channel, timeout=0.1) is None,
        START_TIMEOUT,
        "the in-flight call to occupy the only worker",
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_exits_zero(launch: Launch, signum: signal.Signals) -> None:
    # Python's fault handler prints every thread's stack on SIGABRT: what a hang waits on.
    order_api = launch(PYTHONFAULTHANDLER="1")

    order_api.process.send_signal(signum)

    try:
        code = order_api.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        order_api.process.send_signal(signal.SIGABRT)
        order_api.process.wait(timeout=10)
        pytest.fail(f"no exit 15 s after {signum.name}; its threads:\n{order_api.log()[-6000:]}")
    assert code == 0
    assert "Traceback" not in order_api.log()
    assert "order-api stopped" in order_api.log()


def test_rpc_in_flight_during_sigterm_completes(launch: Launch) -> None:
    order_api = launch(ORDER_API_WORKERS="1", ORDER_API_FAULTS="latency:GetOrder=1s")
    created = order_api.stub.CreateOrder(create_request()).order
    call = order_api.stub.GetOrder.future(orders_pb2.GetOrderRequest(id=created.id), timeout=15)
    _wait_until_the_only_worker_is_busy(order_api)
    assert not call.done()

    order_api.process.send_signal(signal.SIGTERM)

    assert call.result().order == created
    assert order_api.process.wait(timeout=15) == 0


def test_unknown_order_in_flight_during_sigterm_is_still_not_found(launch: Launch) -> None:
    order_api = launch(ORDER_API_WORKERS="1", ORDER_API_FAULTS="latency:GetOrder=1s")
    call = order_api.stub.GetOrder.future(
        orders_pb2.GetOrderRequest(id=uuid.uuid4().hex), timeout=15
    )
    _wait_until_the_only_worker_is_busy(order_api)
    assert not call.done()

    order_api.process.send_signal(signal.SIGTERM)

    assert call.exception() is not None
    assert call.code() is grpc.StatusCode.NOT_FOUND
    assert order_api.process.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORDER_API_LISTEN", "nonsense"),
        ("ORDER_API_WORKERS", "0"),
        ("ORDER_API_GRACE_SECONDS", "soon"),
        ("ORDER_API_MAX_CONNECTION_AGE", "30s"),
        ("ORDER_API_MAX_CONNECTION_AGE_GRACE", "0"),
        ("ORDER_API_FAULTS", "latency:GetOrder"),
        ("ORDER_API_PROCESSES", "0"),
        ("ORDER_API_PROCESSES", "33"),
    ],
)
def test_bad_variable_exits_2_with_one_line_naming_it(name: str, value: str) -> None:
    result = _run(**{"ORDER_API_LISTEN": "127.0.0.1:0", "ORDER_API_DB": os.devnull, name: value})

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"order-api: {name}")
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_1_with_one_line_naming_the_address(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = _run(ORDER_API_LISTEN=address, ORDER_API_DB=str(tmp_path / "orders.db"))

    assert result.returncode == 1
    ours = [line for line in result.stderr.splitlines() if not _GRPC_CORE_LOG_LINE.match(line)]
    assert len(ours) == 1, result.stderr
    assert ours[0].startswith(f"order-api: cannot listen on {address}")
    assert "Traceback" not in result.stderr


def test_unopenable_database_exits_1_with_one_line_naming_it(tmp_path: Path) -> None:
    result = _run(ORDER_API_LISTEN="127.0.0.1:0", ORDER_API_DB=str(tmp_path))

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"order-api: cannot open ORDER_API_DB={str(tmp_path)!r}")
    assert "Traceback" not in result.stderr


def test_order_created_before_sigkill_is_readable_after_restart(launch: Launch) -> None:
    first = launch()
    created = first.stub.CreateOrder(create_request(idempotency_key="before-crash")).order

    first.process.kill()
    assert first.process.wait(timeout=10) == -signal.SIGKILL
    second = launch()

    assert second.stub.GetOrder(orders_pb2.GetOrderRequest(id=created.id)).order == created
    retry = second.stub.CreateOrder(create_request(idempotency_key="before-crash"))
    assert (retry.created, retry.order) == (False, created)


# --- On PostgreSQL ----------------------------------------------------------------------------


def test_unreachable_postgres_at_start_is_one_line_without_the_password() -> None:
    url = f"postgresql://orders:s3cret@127.0.0.1:{free_port()}/orders"

    result = _run(ORDER_API_DB=url, ORDER_API_DB_CONNECT_TIMEOUT="1")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot open ORDER_API_DB='postgresql://orders:***@127.0.0.1" in result.stderr
    assert "s3cret" not in result.stderr


def test_database_down_means_unavailable_and_not_serving_until_it_is_back(
    launch: Launch, postgres: PostgresServer, postgres_url: str
) -> None:
    order_api = launch(ORDER_API_DB=postgres_url, ORDER_API_DB_CONNECT_TIMEOUT="1")
    created = order_api.stub.CreateOrder(create_request()).order
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    try:
        postgres.stop()

        with pytest.raises(grpc.RpcError) as raised:
            order_api.stub.GetOrder(orders_pb2.GetOrderRequest(id=created.id), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        wait_until(lambda: health_status(order_api.channel) == not_serving, 15, "NOT_SERVING")
    finally:
        postgres.start()

    serving = health_pb2.HealthCheckResponse.SERVING
    wait_until(lambda: health_status(order_api.channel) == serving, START_TIMEOUT, "SERVING")
    assert order_api.process.poll() is None, order_api.log()
    assert order_api.stub.GetOrder(orders_pb2.GetOrderRequest(id=created.id)).order == created


def _expired_identity(directory: Path) -> IdentityFiles:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    return write_identity(directory, new_authority(), "order-api", not_before=past, not_after=past)


@pytest.mark.parametrize("variable", ["ORDER_API_TLS_CERT", "ORDER_API_METRICS_TLS_CERT"])
def test_expired_certificate_exits_2_with_one_line_naming_it(tmp_path: Path, variable: str) -> None:
    expired = _expired_identity(tmp_path / "tls")
    prefix = variable.removesuffix("_CERT")
    result = _run(
        ORDER_API_LISTEN="127.0.0.1:0",
        ORDER_API_DB=os.devnull,
        **{variable: str(expired.cert), f"{prefix}_KEY": str(expired.key)},
    )

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"order-api: {variable}='{expired.cert}': certificate ")
    assert "expired at" in line


def test_missing_client_ca_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    identity = write_identity(tmp_path / "tls", new_authority(), "order-api")
    result = _run(
        ORDER_API_LISTEN="127.0.0.1:0",
        ORDER_API_DB=os.devnull,
        ORDER_API_TLS_CERT=str(identity.cert),
        ORDER_API_TLS_KEY=str(identity.key),
        ORDER_API_TLS_CLIENT_CA=str(tmp_path / "missing-ca.crt"),
    )

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("order-api: ORDER_API_TLS_CLIENT_CA=")
    assert "cannot read: No such file or directory" in line


def test_missing_otlp_certificate_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    result = _run(
        ORDER_API_LISTEN="127.0.0.1:0",
        ORDER_API_DB=os.devnull,
        OTEL_SDK_DISABLED="false",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT="https://localhost:4317",
        OTEL_EXPORTER_OTLP_CERTIFICATE=str(tmp_path / "absent.crt"),
    )

    assert result.returncode == 2
    ours = [line for line in result.stderr.splitlines() if line.startswith("order-api:")]
    assert ours == [
        f"order-api: OTEL_EXPORTER_OTLP_CERTIFICATE='{tmp_path / 'absent.crt'}': "
        "cannot read: No such file or directory"
    ]
    assert "Traceback" not in result.stderr
