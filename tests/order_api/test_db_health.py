"""DatabaseHealth: the health status follows the store's pings, published only on a change."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import cast

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.order_api.db_health import NOT_SERVING, SERVING, DatabaseHealth
from services.order_api.server import SERVICE_NAME
from services.order_api.store import OrderStore

WAIT_SECONDS = 5.0
# Set after the checks: the last message the watching client reads.
SENTINEL = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class _PingingStore:
    """A store whose pings answer from a script."""

    def __init__(self, answers: list[bool]) -> None:
        self._answers = answers

    def ping(self) -> bool:
        return self._answers.pop(0)


@pytest.fixture
def served() -> Iterator[tuple[health.HealthServicer, health_pb2_grpc.HealthStub]]:
    """A real health service on a loopback port, SERVING as the order-api starts, and a stub."""
    servicer = health.HealthServicer()
    servicer.set(SERVICE_NAME, SERVING)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield servicer, health_pb2_grpc.HealthStub(channel)
    finally:
        channel.close()
        server.stop(None).wait()


def test_only_a_change_of_the_databases_state_reaches_watching_clients(
    served: tuple[health.HealthServicer, health_pb2_grpc.HealthStub],
) -> None:
    servicer, stub = served
    stream = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=WAIT_SECONDS)
    assert next(stream).status == SERVING
    database_health = DatabaseHealth(
        cast(OrderStore, _PingingStore([True, True, False, False, True, True])),
        servicer,
        [SERVICE_NAME],
    )

    results = [database_health.check() for _ in range(6)]
    servicer.set(SERVICE_NAME, SENTINEL)

    assert results == [True, True, False, False, True, True]
    received = []
    for response in stream:
        if response.status == SENTINEL:
            break
        received.append(response.status)
    # The health servicer sends every set() to every Watch stream: a SERVING re-sent each
    # second made clients re-read READY and rebuild their round_robin picker at a random
    # replica, so a retry could land on the replica that had just failed.
    assert received == [NOT_SERVING, SERVING]
    stream.cancel()
