"""OrderStore: creating, reading and listing orders, idempotency keys, durability.

The `store` fixture runs each behaviour on both backends (SQLite and PostgreSQL);
the SQLite file's own properties are tested on SqliteOrderStore.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from services.order_api.store import (
    STATUS_CREATED,
    IdempotencyConflictError,
    Item,
    OrderStore,
)
from services.order_api.store_sqlite import SqliteOrderStore

ITEMS = (Item("sku-1", 2, 150), Item("sku-2", 1, 999))


def test_create_returns_the_stored_order(store: OrderStore) -> None:
    before_us = time.time_ns() // 1000
    order, created = store.create("alice", ITEMS)

    assert created is True
    assert order.customer_id == "alice"
    assert order.items == ITEMS
    assert order.status == STATUS_CREATED
    assert len(order.id) == 32
    assert before_us <= order.created_at_us <= time.time_ns() // 1000


def test_total_is_the_sum_of_quantity_times_unit_price(store: OrderStore) -> None:
    order, _ = store.create("alice", ITEMS)

    assert order.total_cents == 2 * 150 + 1 * 999


def test_free_items_total_zero(store: OrderStore) -> None:
    order, _ = store.create("alice", (Item("gift", 3, 0),))

    assert order.total_cents == 0


def test_get_returns_what_create_stored(store: OrderStore) -> None:
    order, _ = store.create("alice", ITEMS)

    assert store.get(order.id) == order


def test_get_unknown_id_returns_none(store: OrderStore) -> None:
    assert store.get("no-such-order") is None


def test_each_create_without_key_makes_a_new_order(store: OrderStore) -> None:
    first, _ = store.create("alice", ITEMS)
    second, _ = store.create("alice", ITEMS)

    assert first.id != second.id
    assert second.seq > first.seq
    assert store.count() == 2


def test_same_key_and_items_returns_the_first_order_not_created(store: OrderStore) -> None:
    first, first_created = store.create("alice", ITEMS, idempotency_key="key-1")
    again, again_created = store.create("alice", ITEMS, idempotency_key="key-1")

    assert (first_created, again_created) == (True, False)
    assert again == first
    assert store.count() == 1


def test_same_key_with_different_items_conflicts(store: OrderStore) -> None:
    store.create("alice", ITEMS, idempotency_key="key-1")

    with pytest.raises(IdempotencyConflictError):
        store.create("alice", (Item("sku-1", 3, 150),), idempotency_key="key-1")
    assert store.count() == 1


def test_same_key_for_another_customer_conflicts(store: OrderStore) -> None:
    store.create("alice", ITEMS, idempotency_key="key-1")

    with pytest.raises(IdempotencyConflictError):
        store.create("bob", ITEMS, idempotency_key="key-1")


def test_different_keys_make_different_orders(store: OrderStore) -> None:
    first, _ = store.create("alice", ITEMS, idempotency_key="key-1")
    second, created = store.create("alice", ITEMS, idempotency_key="key-2")

    assert created is True
    assert second.id != first.id


def test_list_returns_orders_in_creation_order(store: OrderStore) -> None:
    ids = [store.create("alice", ITEMS)[0].id for _ in range(3)]

    orders, more = store.list("", limit=10)

    assert [order.id for order in orders] == ids
    assert more is False


def test_list_filters_by_customer(store: OrderStore) -> None:
    alice = [store.create("alice", ITEMS)[0].id for _ in range(2)]
    store.create("bob", ITEMS)
    alice.append(store.create("alice", ITEMS)[0].id)

    orders, _ = store.list("alice", limit=10)

    assert [order.id for order in orders] == alice


def test_list_without_customer_lists_everyone(store: OrderStore) -> None:
    store.create("alice", ITEMS)
    store.create("bob", ITEMS)

    orders, _ = store.list("", limit=10)

    assert [order.customer_id for order in orders] == ["alice", "bob"]


def test_list_says_whether_more_follow_the_limit(store: OrderStore) -> None:
    for _ in range(3):
        store.create("alice", ITEMS)

    assert store.list("", limit=2)[1] is True
    assert store.list("", limit=3)[1] is False


def test_list_pages_with_after_seq(store: OrderStore) -> None:
    ids = [store.create("alice", ITEMS)[0].id for _ in range(5)]

    seen: list[str] = []
    after_seq, more = 0, True
    while more:
        page, more = store.list("", limit=2, after_seq=after_seq)
        seen += [order.id for order in page]
        after_seq = page[-1].seq

    assert seen == ids


def test_list_after_the_last_order_is_empty(store: OrderStore) -> None:
    order, _ = store.create("alice", ITEMS)

    assert store.list("", limit=10, after_seq=order.seq) == ([], False)


def test_orders_survive_closing_and_reopening_the_file(db_path: Path) -> None:
    first = SqliteOrderStore(db_path)
    order, _ = first.create("alice", ITEMS, idempotency_key="key-1")
    first.close()

    reopened = SqliteOrderStore(db_path)
    try:
        assert reopened.get(order.id) == order
        assert reopened.create("alice", ITEMS, idempotency_key="key-1") == (order, False)
        assert reopened.count() == 1
    finally:
        reopened.close()


def test_store_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "var" / "data" / "orders.db"

    SqliteOrderStore(path).close()

    assert path.exists()


def test_database_runs_in_wal_mode(db_path: Path) -> None:
    store = SqliteOrderStore(db_path)
    store.create("alice", ITEMS)
    store.close()

    with closing(sqlite3.connect(db_path)) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"
