"""PostgresOrderStore: migrations, replicas sharing one database, an unreachable or restarted one.

What both backends share is tested in test_store.py; these are the promises
only a database shared by several processes has to keep. Each store here
stands for one replica (its own pool); threads make them race.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from otel_stack.harness.local_postgres import PostgresServer
from otel_stack.harness.running import free_port
from services.order_api.store import (
    IdempotencyConflictError,
    Item,
    PoolSettings,
    SchemaTooNewError,
    StoreUnavailableError,
)
from services.order_api.store_postgres import MIGRATIONS, PostgresOrderStore
from tests.support.polling import wait_until

ITEMS = (Item("sku-1", 2, 150),)
REPLICAS = 6
T = TypeVar("T")


@pytest.fixture
def open_replica(postgres_url: str) -> Iterator[Callable[..., PostgresOrderStore]]:
    """Open stores ("replicas") on one fresh database; all are closed after the test."""
    opened: list[PostgresOrderStore] = []

    def open_one(**kwargs: object) -> PostgresOrderStore:
        store = PostgresOrderStore(postgres_url, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def _all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) in threads released together; return the results in order."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _applied_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version FROM order_api_schema ORDER BY version").fetchall()
    return [row[0] for row in rows]


def test_opening_records_every_migration_once(
    postgres_url: str, open_replica: Callable[..., PostgresOrderStore]
) -> None:
    open_replica()
    open_replica()

    assert _applied_versions(postgres_url) == list(range(1, len(MIGRATIONS) + 1))


def test_replicas_starting_together_on_an_empty_database_all_open(
    postgres_url: str, open_replica: Callable[..., PostgresOrderStore]
) -> None:
    stores = _all_at_once(REPLICAS, lambda _: open_replica())

    stores[0].create("alice", ITEMS)
    assert [store.count() for store in stores] == [1] * REPLICAS
    assert _applied_versions(postgres_url) == list(range(1, len(MIGRATIONS) + 1))


def test_a_database_migrated_by_a_newer_version_is_refused(
    postgres_url: str, open_replica: Callable[..., PostgresOrderStore]
) -> None:
    open_replica()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("INSERT INTO order_api_schema (version) VALUES (%s)", (len(MIGRATIONS) + 1,))

    with pytest.raises(SchemaTooNewError, match="newer"):
        open_replica()


def test_replicas_racing_with_one_key_and_body_store_one_order(
    open_replica: Callable[..., PostgresOrderStore],
) -> None:
    stores = [open_replica() for _ in range(REPLICAS)]

    results = _all_at_once(
        REPLICAS, lambda i: stores[i].create("alice", ITEMS, idempotency_key="race-1")
    )

    assert len({order.id for order, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * (REPLICAS - 1) + [True]
    assert stores[0].count() == 1


def test_replicas_racing_with_one_key_and_different_bodies_conflict(
    open_replica: Callable[..., PostgresOrderStore],
) -> None:
    stores = [open_replica() for _ in range(REPLICAS)]

    def create(index: int) -> str:
        try:
            stores[index].create("alice", (Item("sku", index + 1, 1),), idempotency_key="race-2")
        except IdempotencyConflictError:
            return "conflict"
        return "created"

    outcomes = _all_at_once(REPLICAS, create)

    assert sorted(outcomes) == ["conflict"] * (REPLICAS - 1) + ["created"]
    assert stores[0].count() == 1


def test_pages_read_alternately_from_two_replicas_list_every_order_once(
    open_replica: Callable[..., PostgresOrderStore],
) -> None:
    first, second = open_replica(), open_replica()
    ids = [(first if i % 2 else second).create("alice", ITEMS)[0].id for i in range(7)]

    seen: list[str] = []
    after_seq, more, page_number = 0, True, 0
    while more:
        replica = (first, second)[page_number % 2]
        page, more = replica.list("alice", limit=2, after_seq=after_seq)
        seen += [order.id for order in page]
        after_seq, page_number = page[-1].seq, page_number + 1

    assert seen == ids


def test_opening_an_unreachable_database_is_unavailable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"

    with pytest.raises(StoreUnavailableError):
        PostgresOrderStore(url, pool=PoolSettings(connect_timeout_seconds=1))


def test_calls_while_the_database_is_down_are_unavailable_and_recover_without_leaks(
    postgres: PostgresServer, postgres_url: str, open_replica: Callable[..., PostgresOrderStore]
) -> None:
    pool = PoolSettings(
        min_size=2, max_size=4, connect_timeout_seconds=1, acquire_timeout_seconds=1
    )
    store = open_replica(pool=pool)
    order, _ = store.create("alice", ITEMS)
    try:
        postgres.stop()

        assert store.ping() is False
        with pytest.raises(StoreUnavailableError):
            store.get(order.id)
        with pytest.raises(StoreUnavailableError):
            store.create("alice", ITEMS)
    finally:
        postgres.start()

    wait_until(store.ping, 30, "the store to reach the restarted database")
    assert store.get(order.id) == order
    for _ in range(20):
        store.create("alice", ITEMS)
    assert postgres.connections(postgres_url) <= pool.max_size


def test_pool_gauges_report_used_idle_waiting_and_max(
    open_replica: Callable[..., PostgresOrderStore],
) -> None:
    reader = InMemoryMetricReader()
    pool = PoolSettings(min_size=2, max_size=3)
    open_replica(pool=pool, meter_provider=MeterProvider(metric_readers=[reader]))

    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (metric.name, tuple(sorted((point.attributes or {}).items()))): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    }
    pool_name = ("db.client.connection.pool.name", "order-api")
    used = ("db.client.connection.state", "used")
    idle = ("db.client.connection.state", "idle")
    assert points[("db.client.connection.count", (pool_name, used))] == 0
    assert points[("db.client.connection.count", (pool_name, idle))] == 2
    assert points[("db.client.connection.pending_requests", (pool_name,))] == 0
    assert points[("db.client.connection.max", (pool_name,))] == 3
