"""Stopping an order-api under load (services/order_api/draining.py).

Two order-api servers on loopback, a client channel over both with the gateway's
balancing options (client-side health checking), several threads calling
without pause; one server stops while they call. Every call must be answered:
grpc's plain stop fails calls caught between the transport and the application
with CANCELLED (grpc/grpc#41785), which nobody may retry.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health

from services.order_api.draining import CallArrivals, stop_gracefully
from services.order_api.server import create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from services.web_gateway.client import BALANCED_CHANNEL_OPTIONS
from tests.support.polling import wait_until

ROUNDS = 4
THREADS = 8
# Calls before the stop, and after it (all of these on the other server).
CALLS_BEFORE = 300
CALLS_AFTER = 300
GRACE_SECONDS = 5.0
DEADLINE = 30.0


@dataclass
class Replica:
    """An order-api server in this process, as the order-api's main builds its shutdown."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    arrivals: CallArrivals
    store: SqliteOrderStore


def _replica(path: Path, arrivals: CallArrivals | None = None) -> Replica:
    store = SqliteOrderStore(path)
    health_servicer = health.HealthServicer()
    arrivals = arrivals or CallArrivals()
    server, port = create_server(
        "127.0.0.1:0",
        servicer=OrderServicer(store),
        health_servicer=health_servicer,
        interceptors=[arrivals],
    )
    server.start()
    return Replica(server, port, health_servicer, arrivals, store)


@dataclass
class Load:
    """THREADS threads calling ListOrders without pause until stopped: the status codes."""

    stub: orders_pb2_grpc.OrderServiceStub
    codes: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._run) for _ in range(THREADS)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        request = orders_pb2.ListOrdersRequest(page_size=1)
        while not self.stop.is_set():
            try:
                self.stub.ListOrders(request, timeout=DEADLINE)
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name
            with self.lock:
                self.codes[code] += 1

    def total(self) -> int:
        with self.lock:
            return self.codes.total()

    def wait_for(self, calls: int) -> None:
        """Wait until `calls` more calls have been answered."""
        goal = self.total() + calls
        wait_until(lambda: self.total() >= goal, DEADLINE, f"{calls} more calls")

    def finish(self) -> Counter[str]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=DEADLINE)
        return self.codes


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.server.stop(None).wait()
        replica.store.close()


def test_a_replica_stopping_under_load_fails_no_call_of_a_client_watching_its_health(
    replicas: list[Replica], tmp_path: Path
) -> None:
    for round_ in range(ROUNDS):
        stopping, staying = (_replica(tmp_path / f"{round_}-{name}.db") for name in "ab")
        replicas.extend((stopping, staying))

        codes = _stop_under_load(stopping, staying)

        assert set(codes) == {"OK"}, f"round {round_}: {dict(codes)}"


def _stop_under_load(stopping: Replica, staying: Replica) -> Counter[str]:
    """Stop `stopping` while a client of both calls them without pause: its status codes."""
    target = f"ipv4:127.0.0.1:{stopping.port},127.0.0.1:{staying.port}"
    with grpc.insecure_channel(target, options=BALANCED_CHANNEL_OPTIONS) as channel:
        load = Load(orders_pb2_grpc.OrderServiceStub(channel))
        load.start()
        try:
            load.wait_for(CALLS_BEFORE)
            stop_gracefully(stopping.server, stopping.health, stopping.arrivals, GRACE_SECONDS)
            load.wait_for(CALLS_AFTER)
        finally:
            codes = load.finish()
    return codes


# --- waiting for calls to stop arriving, on a fake clock ------------------------------------


class FakeClock:
    """A clock that moves only when slept on; `on_sleep` may make calls arrive meanwhile."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.on_sleep: list[CallArrivals] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        for arrivals in self.on_sleep:  # a call arrived at the end of the pause
            arrivals.last = self.now


def test_a_server_without_recent_calls_stops_without_waiting() -> None:
    clock = FakeClock()
    arrivals = CallArrivals(clock, clock.sleep)
    clock.now += 5.0

    assert arrivals.wait_for_quiet(0.2, 2.0) == 0.0
    assert clock.slept == []


def test_calls_that_stop_arriving_end_the_wait_after_the_quiet_period() -> None:
    clock = FakeClock()
    arrivals = CallArrivals(clock, clock.sleep)

    assert arrivals.wait_for_quiet(0.2, 2.0) == pytest.approx(0.2)


def test_a_server_still_receiving_calls_waits_its_limit_and_no_longer() -> None:
    clock = FakeClock()
    arrivals = CallArrivals(clock, clock.sleep)
    clock.on_sleep.append(arrivals)

    assert arrivals.wait_for_quiet(0.2, 1.0) == pytest.approx(1.0)
    assert sum(clock.slept) == pytest.approx(1.0)


def test_each_call_that_reaches_the_server_is_an_arrival(
    replicas: list[Replica], tmp_path: Path
) -> None:
    clock = FakeClock()
    replica = _replica(tmp_path / "orders.db", CallArrivals(clock, clock.sleep))
    replicas.append(replica)
    clock.now += 7.0

    with grpc.insecure_channel(f"127.0.0.1:{replica.port}") as channel:
        orders_pb2_grpc.OrderServiceStub(channel).ListOrders(
            orders_pb2.ListOrdersRequest(page_size=1), timeout=DEADLINE
        )

    assert replica.arrivals.last == clock.now
