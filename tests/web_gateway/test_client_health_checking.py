"""OrderClient sends calls only to replicas whose health service says OrderService is SERVING.

Client-side health checking (gRFC A17, in the client's service config): real
order-api servers on loopback, in this process, so a test can set a replica's
health the way a stopping order-api (or its database check) does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2

from services.order_api.server import SERVICE_NAME, create_server
from services.order_api.servicer import OrderServicer
from services.order_api.store import OrderStore
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2_grpc
from services.web_gateway.client import OrderClient
from tests.support.polling import wait_until

CALLS = 40
DEADLINE = 10.0


class CountingServicer(OrderServicer):
    """The real servicer, counting the ListOrders calls it answers."""

    def __init__(self, store: OrderStore) -> None:
        super().__init__(store)
        self.calls = 0

    def ListOrders(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls += 1
        return super().ListOrders(request, context)


@dataclass
class Replica:
    server: grpc.Server
    port: int
    servicer: CountingServicer
    health: health.HealthServicer | None


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """start(with_health=True) -> Replica; every one stopped at teardown."""
    started: list[tuple[grpc.Server, OrderStore]] = []

    def run(with_health: bool = True) -> Replica:
        store = SqliteOrderStore(tmp_path / f"orders-{len(started)}.db")
        servicer = CountingServicer(store)
        if with_health:
            health_servicer = health.HealthServicer()
            server, port = create_server(
                "127.0.0.1:0", servicer=servicer, health_servicer=health_servicer
            )
        else:  # OrderService alone: no grpc.health.v1 at all
            health_servicer = None
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            orders_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
            port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        started.append((server, store))
        return Replica(server, port, servicer, health_servicer)

    yield run
    for server, store in started:
        server.stop(None).wait()
        store.close()


def _client(*replicas: Replica) -> OrderClient:
    return OrderClient("ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in replicas), timeout=5.0)


def _share(client: OrderClient, replicas: list[Replica], calls: int = CALLS) -> Counter[int]:
    """How many of `calls` ListOrders each replica (by index) answered."""
    before = [replica.servicer.calls for replica in replicas]
    for _ in range(calls):
        client.list_orders("", 1, "")
    return Counter({i: replica.servicer.calls - before[i] for i, replica in enumerate(replicas)})


def _both_serve(client: OrderClient, replicas: list[Replica]) -> bool:
    return all(_share(client, replicas, 4).values())


def test_a_replica_not_serving_gets_no_call_until_it_serves_again(start: Any) -> None:
    replicas = [start(), start()]
    client = _client(*replicas)
    try:
        wait_until(lambda: _both_serve(client, replicas), DEADLINE, "both replicas to serve")
        leaving = replicas[0].health
        assert leaving is not None

        leaving.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
        wait_until(lambda: _share(client, replicas, 4)[0] == 0, DEADLINE, "calls to move")
        assert _share(client, replicas) == Counter({0: 0, 1: CALLS})

        leaving.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        wait_until(lambda: _both_serve(client, replicas), DEADLINE, "the replica to serve again")
    finally:
        client.close()


def test_a_replica_without_the_health_service_counts_as_serving(start: Any) -> None:
    replicas = [start(with_health=False), start()]
    client = _client(*replicas)
    try:
        wait_until(lambda: _both_serve(client, replicas), DEADLINE, "both replicas to serve")
    finally:
        client.close()
