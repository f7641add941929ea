"""Fixtures for the web-gateway tests: real order-api servers on free ports and gateway apps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from services.order_api.servicer import OrderServicer
from services.order_api.store import OrderStore
from services.web_gateway.app import create_app
from services.web_gateway.client import OrderClient
from services.web_gateway.config import Config
from tests.support import order_api as order_api_support
from tests.support.order_api import RunningOrderApi
from tests.web_gateway.bodies import MakeGateway, StartOrderApi


@pytest.fixture
def start_order_api(tmp_path: Path) -> Iterator[StartOrderApi]:
    """Start order-api servers over one SQLite file; each is stopped after the test."""
    running: list[RunningOrderApi] = []

    def start(
        *, port: int = 0, servicer: Callable[[OrderStore], OrderServicer] = OrderServicer
    ) -> RunningOrderApi:
        order_api = order_api_support.start_order_api(
            tmp_path / "orders.db", port=port, servicer=servicer
        )
        running.append(order_api)
        return order_api

    yield start
    for order_api in reversed(running):
        order_api.stop()


@pytest.fixture
def order_api(start_order_api: StartOrderApi) -> str:
    """The target of a running order-api over a fresh database."""
    return start_order_api().target


@pytest.fixture
def make_gateway() -> Iterator[MakeGateway]:
    """Build gateway apps calling a given order-api target; their gRPC channels close after."""
    clients: list[OrderClient] = []

    def make(target: str, timeout: float = 2.0) -> FlaskClient:
        client = OrderClient(target, timeout)
        clients.append(client)
        config = Config(order_api_target=target, order_api_timeout=timeout)
        return create_app(config, client=client).test_client()

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def http(order_api: str, make_gateway: MakeGateway) -> FlaskClient:
    """A test client of a gateway in front of a real order-api."""
    return make_gateway(order_api)
