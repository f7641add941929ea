"""create_server: the services it registers, its message size limit and its port handling."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.order_api.server import (
    MAX_RECEIVE_BYTES,
    SERVICE_NAME,
    ListenError,
    create_server,
)
from services.order_api.servicer import OrderServicer
from services.order_api.store_sqlite import SqliteOrderStore
from services.proto.orders.v1 import orders_pb2
from tests.support.order_api import RunningOrderApi, create_request, health_status
from tests.support.polling import wait_until


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port another socket is listening on for the duration of the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_service_name_is_the_proto_full_name() -> None:
    assert SERVICE_NAME == "orders.v1.OrderService"


@pytest.mark.parametrize("service", ["", "orders.v1.OrderService"])
def test_health_service_reports_serving(order_api: RunningOrderApi, service: str) -> None:
    status = health_status(order_api.channel, service)

    assert status == health_pb2.HealthCheckResponse.SERVING


def test_health_of_an_unknown_service_is_not_found(order_api: RunningOrderApi) -> None:
    health = health_pb2_grpc.HealthStub(order_api.channel)

    with pytest.raises(grpc.RpcError) as raised:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


def test_request_over_the_receive_limit_is_resource_exhausted(order_api: RunningOrderApi) -> None:
    request = create_request(customer_id="c" * (MAX_RECEIVE_BYTES + 1))

    with pytest.raises(grpc.RpcError) as raised:
        order_api.stub.CreateOrder(request, timeout=10)

    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert order_api.store.count() == 0


def test_request_under_the_receive_limit_reaches_the_servicer(order_api: RunningOrderApi) -> None:
    request = create_request(customer_id="c" * (MAX_RECEIVE_BYTES // 2))

    with pytest.raises(grpc.RpcError) as raised:
        order_api.stub.CreateOrder(request, timeout=10)

    # The size is accepted; the customer id's own length rule then rejects it.
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_port_zero_binds_a_free_port(order_api: RunningOrderApi) -> None:
    assert 0 < order_api.port <= 65535
    with socket.socket() as probe:  # the port is taken: by this server
        assert probe.connect_ex(("127.0.0.1", order_api.port)) == 0
    assert order_api.stub.ListOrders(orders_pb2.ListOrdersRequest()).next_page_token == ""


def test_binding_a_port_in_use_raises_listen_error(occupied_port: int) -> None:
    store = SqliteOrderStore(":memory:")
    address = f"127.0.0.1:{occupied_port}"
    try:
        with pytest.raises(ListenError) as raised:
            create_server(address, servicer=OrderServicer(store))
    finally:
        store.close()

    assert address in str(raised.value)


def test_binding_a_port_another_order_api_holds_raises_listen_error(
    order_api: RunningOrderApi,
) -> None:
    store = SqliteOrderStore(":memory:")
    try:
        with pytest.raises(ListenError):
            create_server(order_api.target, servicer=OrderServicer(store))
    finally:
        store.close()


def test_max_connection_age_closes_an_open_connection() -> None:
    """The server sends GOAWAY after the age: the client's channel leaves READY on its own."""
    store = SqliteOrderStore(":memory:")
    server, port = create_server(
        "127.0.0.1:0",
        servicer=OrderServicer(store),
        max_connection_age=0.5,
        max_connection_age_grace=0.5,
    )
    server.start()
    states: list[grpc.ChannelConnectivity] = []
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        assert health_status(channel, timeout=10) == health_pb2.HealthCheckResponse.SERVING
        channel.subscribe(states.append)
        wait_until(
            lambda: grpc.ChannelConnectivity.IDLE in states,
            30,
            "the channel to go idle after the server's GOAWAY",
        )
        # The next call opens a new connection.
        assert health_status(channel, timeout=10) == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()
        server.stop(None).wait()
        store.close()
