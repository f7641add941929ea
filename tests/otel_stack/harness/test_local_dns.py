"""local_dns: a real dnsmasq on loopback answers one name, re-reads its hosts file on SIGHUP,
and a gRPC channel dialling `dns://<that server>/<name>:port` reaches every address."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from otel_stack.harness import local_dns, processes
from otel_stack.harness.processes import Service
from services.order_api.server import create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from services.web_gateway.client import BALANCED_CHANNEL_OPTIONS
from tests.support.polling import wait_until
from tests.support.tools import require_tool

NAME = "order-api.local-dns.test"
CALLS = 60


@pytest.fixture
def hosts_file(tmp_path: Path) -> Path:
    path = tmp_path / "order-api.hosts"
    local_dns.write_hosts(path, NAME, ["127.0.0.2", "127.0.0.3"])
    return path


@pytest.fixture
def dnsmasq(tmp_path: Path, hosts_file: Path) -> Iterator[tuple[Service, tuple[str, int]]]:
    binary = require_tool("dnsmasq")
    listen = ("127.0.0.1", local_dns.free_port())
    argv = local_dns.command(binary, listen, NAME, hosts_file=hosts_file)
    service = processes.start(local_dns.spec(argv, listen, NAME, tmp_path / "dnsmasq.log"))
    yield service, listen
    processes.stop_all([service], grace=5)


def test_the_name_resolves_to_the_hosts_file_addresses(
    dnsmasq: tuple[Service, tuple[str, int]],
) -> None:
    _, listen = dnsmasq

    assert sorted(local_dns.resolve(NAME, listen)) == ["127.0.0.2", "127.0.0.3"]


def test_other_names_get_no_address(dnsmasq: tuple[Service, tuple[str, int]]) -> None:
    _, listen = dnsmasq

    assert local_dns.resolve("elsewhere.test", listen, timeout=0.5) == []


def test_sighup_reads_the_hosts_file_again(
    dnsmasq: tuple[Service, tuple[str, int]], hosts_file: Path
) -> None:
    service, listen = dnsmasq
    local_dns.write_hosts(hosts_file, NAME, ["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    service.signal(signal.SIGHUP)

    wait_until(
        lambda: sorted(local_dns.resolve(NAME, listen)) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
        10,
        "the third address after SIGHUP",
    )


def test_host_records_need_no_file(tmp_path: Path) -> None:
    binary = require_tool("dnsmasq")
    listen = ("127.0.0.1", local_dns.free_port())
    argv = local_dns.command(binary, listen, NAME, addresses=["127.0.0.7", "127.0.0.8"])
    service = processes.start(local_dns.spec(argv, listen, NAME, tmp_path / "dnsmasq.log"))
    try:
        assert sorted(local_dns.resolve(NAME, listen)) == ["127.0.0.7", "127.0.0.8"]
    finally:
        processes.stop_all([service], grace=5)


class _Counter(grpc.ServerInterceptor):
    """Counts the calls a server receives."""

    def __init__(self) -> None:
        self.calls = 0

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        self.calls += 1
        return continuation(handler_call_details)


def test_a_channel_dialling_the_name_on_that_server_calls_every_address(
    dnsmasq: tuple[Service, tuple[str, int]],
) -> None:
    """The gateway's channel options (round_robin), the server named in the target's authority."""
    _, (host, port) = dnsmasq
    store = SqliteOrderStore(":memory:")
    counters = {"127.0.0.2": _Counter(), "127.0.0.3": _Counter()}
    servers = []
    grpc_port = 0  # the first server picks it; the DNS answer carries no port, so both share it
    try:
        for address, counter in counters.items():
            server, grpc_port = create_server(
                f"{address}:{grpc_port}", servicer=OrderServicer(store), interceptors=[counter]
            )
            server.start()
            servers.append(server)
        target = f"dns://{host}:{port}/{NAME}:{grpc_port}"
        with grpc.insecure_channel(target, options=BALANCED_CHANNEL_OPTIONS) as channel:
            stub = orders_pb2_grpc.OrderServiceStub(channel)

            def both_reached() -> bool:
                stub.ListOrders(orders_pb2.ListOrdersRequest(), timeout=10)
                return all(counter.calls for counter in counters.values())

            # round_robin uses an address once its connection is ready: wait for both.
            wait_until(both_reached, 30, "calls on both addresses")
            before = Counter({address: c.calls for address, c in counters.items()})
            for _ in range(CALLS):
                stub.ListOrders(orders_pb2.ListOrdersRequest(), timeout=10)
    finally:
        for server in servers:
            server.stop(None).wait()
        store.close()

    served = Counter({address: c.calls for address, c in counters.items()}) - before
    assert served.total() == CALLS
    # round_robin alternates; a third each leaves room for a connection being replaced.
    assert all(count >= CALLS // 3 for count in served.values()), served
