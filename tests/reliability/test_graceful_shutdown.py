"""SIGTERM under load: work already accepted completes, the process exits 0 within its grace
period, and the last metrics and spans are pushed on the way out.

Requests are made slow (the order-api sleeps 1 s in ListOrders) so that several
are in flight at the signal. A request sent well before the signal must get
its whole answer; one sent around or after it may be refused, but no answer
may be cut off once it has started. The OTLP scenario uses a 60 s export
interval and batch delay, so only the flush at shutdown can deliver anything.
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from otel_stack.harness.otlp_receiver import OtlpReceiver, counter_value, running_receiver
from otel_stack.harness.running import GATEWAY, ORDER_API, Stack, running_stack
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.reliability.processes import wait_for_exit
from tests.support.http_client import HttpClient, order_body
from tests.support.polling import wait_until

GRACE_SECONDS = 5.0
SLOW_SECONDS = 1.0
# A request sent this long before the signal has certainly been read by the server.
ACCEPTED_MARGIN = 0.25
CLIENTS = 8
MAX_REQUESTS_PER_CLIENT = 50
SLOW_ENVIRON = {
    "ORDER_API_FAULTS": f"latency:ListOrders={SLOW_SECONDS:g}s",
    "GATEWAY_GRACE_SECONDS": str(GRACE_SECONDS),
    "ORDER_API_GRACE_SECONDS": str(GRACE_SECONDS),
}
# Time allowed on top of the grace period: flushing telemetry, closing the database.
EXIT_MARGIN = 1.5


@dataclass(frozen=True)
class Outcome:
    """One request of the load: when it was sent and how it ended."""

    sent_at: float
    ended_at: float
    status: int | None  # None: no answer (refused, or cut off)
    started_answer: bool  # the status line arrived
    error: str = ""

    @property
    def complete(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class Shutdown:
    """What the load saw around a SIGTERM, and how the process exited."""

    outcomes: list[Outcome]
    signalled_at: float
    exit_code: int
    exit_seconds: float

    def sent_before(self, margin: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.sent_at < self.signalled_at - margin]


def _http_request(connection: http.client.HTTPConnection) -> Outcome:
    sent_at = time.monotonic()
    started = False
    try:
        connection.request("GET", "/orders?page_size=1")
        response = connection.getresponse()
        started = True
        response.read()
    except (OSError, http.client.HTTPException) as error:
        connection.close()
        return Outcome(sent_at, time.monotonic(), None, started, repr(error))
    return Outcome(sent_at, time.monotonic(), response.status, started)


def _grpc_request(stub: orders_pb2_grpc.OrderServiceStub) -> Outcome:
    sent_at = time.monotonic()
    try:
        stub.ListOrders(orders_pb2.ListOrdersRequest(page_size=1), timeout=10)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)  # a failed call's error is also the call
        code = error.code()
        return Outcome(sent_at, time.monotonic(), None, False, code.name)
    return Outcome(sent_at, time.monotonic(), 0, True)


def _load_through_sigterm(stack: Stack, name: str) -> Shutdown:
    """Run the load, SIGTERM `name` once requests are in flight, keep going until it exits."""
    process = stack.processes[name]
    outcomes: list[Outcome] = []
    in_flight_since: dict[int, float] = {}
    exited = threading.Event()

    def http_client(index: int) -> None:
        host, port = stack.gateway_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            in_flight_since[index] = time.monotonic()
            outcome = _http_request(connection)
            del in_flight_since[index]
            outcomes.append(outcome)
            if exited.is_set() or not outcome.complete:
                break
        connection.close()

    def grpc_client(index: int) -> None:
        with grpc.insecure_channel(stack.order_api_target) as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                in_flight_since[index] = time.monotonic()
                outcome = _grpc_request(stub)
                del in_flight_since[index]
                outcomes.append(outcome)
                if exited.is_set() or not outcome.complete:
                    break

    def all_well_in_flight() -> bool:
        since = in_flight_since.copy().values()  # copy(): the clients change it meanwhile
        return len(since) == CLIENTS and time.monotonic() - max(since) > 2 * ACCEPTED_MARGIN

    target = http_client if name == GATEWAY else grpc_client
    threads = [threading.Thread(target=target, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        # After a first round, signal while every client's request is well under way.
        wait_until(lambda: len(outcomes) >= CLIENTS, 10, "a first round of requests")
        wait_until(all_well_in_flight, 10, "every client to have a request well under way")
        signalled_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code, seconds = wait_for_exit(process, GRACE_SECONDS + 10)
    finally:
        exited.set()
        for thread in threads:
            thread.join(timeout=15)
    return Shutdown(list(outcomes), signalled_at, code, seconds)


@pytest.fixture(scope="module")
def gateway_shutdown(tmp_path_factory: pytest.TempPathFactory) -> Shutdown:
    with running_stack(tmp_path_factory.mktemp("gw-term"), environ=SLOW_ENVIRON) as stack:
        return _load_through_sigterm(stack, GATEWAY)


@pytest.fixture(scope="module")
def order_api_shutdown(tmp_path_factory: pytest.TempPathFactory) -> Shutdown:
    with running_stack(tmp_path_factory.mktemp("api-term"), environ=SLOW_ENVIRON) as stack:
        return _load_through_sigterm(stack, ORDER_API)


def test_gateway_exits_0_within_its_grace_period(gateway_shutdown: Shutdown) -> None:
    assert gateway_shutdown.exit_code == 0
    assert gateway_shutdown.exit_seconds < GRACE_SECONDS + EXIT_MARGIN


def test_gateway_completes_requests_accepted_before_sigterm(gateway_shutdown: Shutdown) -> None:
    accepted = gateway_shutdown.sent_before(ACCEPTED_MARGIN)
    assert [o.status for o in accepted] == [200] * len(accepted), accepted
    drained = [o for o in accepted if o.ended_at > gateway_shutdown.signalled_at]
    assert drained, "no request was in flight at the signal"


def test_gateway_never_cuts_off_an_answer_it_started(gateway_shutdown: Shutdown) -> None:
    cut_off = [o for o in gateway_shutdown.outcomes if o.started_answer and not o.complete]
    assert cut_off == []


def test_gateway_answers_200_or_refuses_requests_sent_around_sigterm(
    gateway_shutdown: Shutdown,
) -> None:
    late = [
        o
        for o in gateway_shutdown.outcomes
        if o.sent_at >= gateway_shutdown.signalled_at - ACCEPTED_MARGIN
    ]
    assert all(o.status in (200, None) for o in late), late


def test_order_api_exits_0_within_its_grace_period(order_api_shutdown: Shutdown) -> None:
    assert order_api_shutdown.exit_code == 0
    assert order_api_shutdown.exit_seconds < GRACE_SECONDS + EXIT_MARGIN


def test_order_api_completes_rpcs_in_flight_at_sigterm(order_api_shutdown: Shutdown) -> None:
    accepted = order_api_shutdown.sent_before(ACCEPTED_MARGIN)
    assert [o.error for o in accepted] == [""] * len(accepted), accepted
    drained = [o for o in accepted if o.ended_at > order_api_shutdown.signalled_at]
    assert drained, "no RPC was in flight at the signal"


def test_order_api_refuses_later_rpcs_with_unavailable(order_api_shutdown: Shutdown) -> None:
    failed = {o.error for o in order_api_shutdown.outcomes if o.error}
    assert failed <= {"UNAVAILABLE"}


# --- A call that outlasts the grace period -----------------------------------------------------

SHORT_GRACE_SECONDS = 1.0
OVERRUN_ENVIRON = {
    # The order-api takes 5 s, the gateway would wait 8 s for it: both beyond a 1 s grace.
    "ORDER_API_FAULTS": "latency:ListOrders=5s",
    "ORDER_API_TIMEOUT": "8",
    "GATEWAY_GRACE_SECONDS": str(SHORT_GRACE_SECONDS),
    "ORDER_API_GRACE_SECONDS": str(SHORT_GRACE_SECONDS),
}


@dataclass(frozen=True)
class Overrun:
    """One call that would outlast the grace period, and how the process exited."""

    outcome: Outcome
    signalled_at: float
    exit_code: int
    exit_seconds: float
    log: str


def _outlasting_call_through_sigterm(stack: Stack, name: str) -> Overrun:
    outcomes: list[Outcome] = []

    def call() -> None:
        if name == GATEWAY:
            host, port = stack.gateway_url.removeprefix("http://").split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=15)
            outcomes.append(_http_request(connection))
            connection.close()
            return
        with grpc.insecure_channel(stack.order_api_target) as channel:
            outcomes.append(_grpc_request(orders_pb2_grpc.OrderServiceStub(channel)))

    caller = threading.Thread(target=call)
    started = time.monotonic()
    caller.start()
    # Give the call time to reach the server and settle into the injected latency.
    wait_until(lambda: time.monotonic() - started > 2 * ACCEPTED_MARGIN, 5, "the call to start")
    signalled_at = time.monotonic()
    process = stack.processes[name]
    process.send_signal(signal.SIGTERM)
    code, seconds = wait_for_exit(process, 30)
    caller.join(timeout=15)
    assert outcomes, "the call never ended"
    return Overrun(outcomes[0], signalled_at, code, seconds, stack.log(name))


@pytest.fixture(scope="module")
def gateway_overrun(tmp_path_factory: pytest.TempPathFactory) -> Overrun:
    with running_stack(tmp_path_factory.mktemp("gw-over"), environ=OVERRUN_ENVIRON) as stack:
        return _outlasting_call_through_sigterm(stack, GATEWAY)


@pytest.fixture(scope="module")
def order_api_overrun(tmp_path_factory: pytest.TempPathFactory) -> Overrun:
    with running_stack(tmp_path_factory.mktemp("api-over"), environ=OVERRUN_ENVIRON) as stack:
        return _outlasting_call_through_sigterm(stack, ORDER_API)


def test_gateway_exits_at_the_end_of_its_grace_even_if_a_call_outlasts_it(
    gateway_overrun: Overrun,
) -> None:
    assert gateway_overrun.exit_code == 0
    assert gateway_overrun.exit_seconds < SHORT_GRACE_SECONDS + EXIT_MARGIN
    # The caller is not left hanging: it hears back (or sees the connection close) by then.
    ended = gateway_overrun.outcome.ended_at - gateway_overrun.signalled_at
    assert ended < SHORT_GRACE_SECONDS + EXIT_MARGIN


def test_order_api_exits_at_the_end_of_its_grace_even_if_a_call_outlasts_it(
    order_api_overrun: Overrun,
) -> None:
    assert order_api_overrun.exit_code == 0
    assert order_api_overrun.exit_seconds < SHORT_GRACE_SECONDS + EXIT_MARGIN
    assert order_api_overrun.outcome.error in ("UNAVAILABLE", "CANCELLED")


def test_order_api_logs_no_error_for_a_call_cut_off_by_shutdown(
    order_api_overrun: Overrun,
) -> None:
    assert "Traceback" not in order_api_overrun.log
    assert " ERROR " not in order_api_overrun.log


# --- The last telemetry is flushed at SIGTERM ---------------------------------------------------

CREATED = 5


@dataclass(frozen=True)
class OtlpStack:
    stack: Stack
    receiver: OtlpReceiver


@pytest.fixture(scope="module")
def otlp_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OtlpStack]:
    """Both services pushing OTLP every 60 s only, after CREATED orders went through them."""
    tmp_path: Path = tmp_path_factory.mktemp("otlp")
    with running_receiver() as (receiver, port):
        environ = {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",
            "GATEWAY_GRACE_SECONDS": str(GRACE_SECONDS),
            "ORDER_API_GRACE_SECONDS": str(GRACE_SECONDS),
        }
        with running_stack(tmp_path, environ=environ) as stack:
            with HttpClient(stack.gateway_url) as client:
                for number in range(CREATED):
                    assert client.post_json("/orders", order_body(f"otlp-{number}")).status == 201
            # Nothing is pushed before the first interval: only a shutdown flush can deliver.
            assert receiver.metric_requests == [] and receiver.trace_requests == []
            yield OtlpStack(stack, receiver)


def _server_spans(receiver: OtlpReceiver, service: str, name: str) -> int:
    return sum(
        1
        for span in receiver.spans(service)
        if span.kind == span.SPAN_KIND_SERVER and span.name.endswith(name)
    )


def _terminate(stack: Stack, name: str) -> subprocess.Popen[bytes]:
    process = stack.processes[name]
    process.send_signal(signal.SIGTERM)
    return process


def test_gateway_pushes_its_final_metrics_and_spans_on_sigterm(otlp_stack: OtlpStack) -> None:
    code, seconds = wait_for_exit(_terminate(otlp_stack.stack, GATEWAY), GRACE_SECONDS + 10)
    assert code == 0 and seconds < GRACE_SECONDS + EXIT_MARGIN

    requests = otlp_stack.receiver.metrics(GATEWAY)["http.requests"]
    assert counter_value(requests, method="POST", route="/orders", status_code="201") == CREATED
    assert _server_spans(otlp_stack.receiver, GATEWAY, "POST /orders") == CREATED


def test_order_api_pushes_its_final_metrics_and_spans_on_sigterm(otlp_stack: OtlpStack) -> None:
    code, seconds = wait_for_exit(_terminate(otlp_stack.stack, ORDER_API), GRACE_SECONDS + 10)
    assert code == 0 and seconds < GRACE_SECONDS + EXIT_MARGIN

    metrics = otlp_stack.receiver.metrics(ORDER_API)
    assert counter_value(metrics["grpc.requests"], method="CreateOrder", status="OK") == CREATED
    assert counter_value(metrics["orders.created"]) == CREATED
    assert _server_spans(otlp_stack.receiver, ORDER_API, "/CreateOrder") == CREATED
