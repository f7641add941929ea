"""Fixtures for the order-api tests: a store on each backend and real gRPC servers over one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.order_api.backends import open_store
from services.order_api.faults import FaultPlan
from services.order_api.store import OrderStore
from services.proto.orders.v1 import orders_pb2_grpc
from tests.support.order_api import RunningOrderApi, StartOrderApi, start_order_api


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The SQLite file a test's store and servers share."""
    return tmp_path / "orders.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[OrderStore]:
    """An empty store on each backend (a fresh SQLite file, a fresh PostgreSQL database)."""
    location = (
        str(db_path) if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    order_store = open_store(location)
    yield order_store
    order_store.close()


@pytest.fixture
def start_server(db_path: Path) -> Iterator[StartOrderApi]:
    """Start servers on `db_path` (or a given store); each is stopped after the test.

    Call `.stop()` on one to stop it early, then call this again to restart on the same file.
    """
    running: list[RunningOrderApi] = []

    def start(
        *, store: OrderStore | None = None, faults: FaultPlan | None = None
    ) -> RunningOrderApi:
        order_api = start_order_api(db_path, store=store, faults=faults)
        running.append(order_api)
        return order_api

    yield start
    for order_api in reversed(running):
        order_api.stop()


@pytest.fixture
def order_api(start_server: StartOrderApi) -> RunningOrderApi:
    """A running server over a fresh database."""
    return start_server()


@pytest.fixture
def stub(order_api: RunningOrderApi) -> orders_pb2_grpc.OrderServiceStub:
    """A stub connected to `order_api`."""
    return order_api.stub
