"""The SQL both backends share: a new order's row, the reads, rows → `Order`.

`NewOrder` is an order about to be inserted (its id, time, total and row);
`SqlReads` holds `get`, `list` and `count`, written once: a backend says how it
runs one query (`_fetch_one`, `_fetch_all`: SQLite under its lock, PostgreSQL
on a pooled connection) and which parameter marker its driver takes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from services.order_api.store import (
    STATUS_CREATED,
    Item,
    Order,
    items_from_json,
    items_to_json,
    order_total,
)

Row = tuple[Any, ...]
Rows = list[Row]

# The columns every backend selects, in the order `order_from_row` reads them.
COLUMNS = "id, customer_id, items, total_cents, status, created_at_us, seq"


def order_from_row(row: tuple[Any, ...]) -> Order:
    """An Order from a row of COLUMNS."""
    order_id, customer_id, items, total, status, created_at_us, seq = row
    return Order(order_id, customer_id, items_from_json(items), total, status, created_at_us, seq)


def list_query(
    customer_id: str, limit: int, after_seq: int, placeholder: str
) -> tuple[str, tuple[object, ...]]:
    """The keyset-pagination SELECT of `list` (one row past `limit` says more follow).

    `placeholder` is the driver's parameter marker (`?` for sqlite3, `%s` for psycopg).
    """
    query = f"SELECT {COLUMNS} FROM orders WHERE seq > {placeholder}"
    params: tuple[object, ...] = (after_seq,)
    if customer_id:
        query += f" AND customer_id = {placeholder}"
        params += (customer_id,)
    return f"{query} ORDER BY seq LIMIT {placeholder}", (*params, limit + 1)


# The columns of a new order's row, in the order `NewOrder.values` gives them.
INSERT_COLUMNS = (
    "id, customer_id, items, total_cents, status, created_at_us, idempotency_key, fingerprint"
)


@dataclass(frozen=True)
class NewOrder:
    """An order about to be inserted (its `seq` 0 until the database gives it one), and its row."""

    order: Order
    idempotency_key: str
    fingerprint: str

    @classmethod
    def make(
        cls, customer_id: str, items: tuple[Item, ...], idempotency_key: str, fingerprint: str
    ) -> NewOrder:
        """The new order, with a fresh id and its creation time taken now."""
        order = Order(
            uuid.uuid4().hex,
            customer_id,
            items,
            order_total(items),
            STATUS_CREATED,
            time.time_ns() // 1000,
            0,
        )
        return cls(order, idempotency_key, fingerprint)

    @staticmethod
    def insert_sql(placeholder: str) -> str:
        """The INSERT of one row (`placeholder`: the driver's parameter marker)."""
        markers = ", ".join([placeholder] * len(INSERT_COLUMNS.split(",")))
        return f"INSERT INTO orders ({INSERT_COLUMNS}) VALUES ({markers})"

    def values(self) -> tuple[object, ...]:
        """The row's values, in INSERT_COLUMNS order (no idempotency key: NULL)."""
        order = self.order
        return (
            order.id,
            order.customer_id,
            items_to_json(order.items),
            order.total_cents,
            order.status,
            order.created_at_us,
            self.idempotency_key or None,
            self.fingerprint,
        )

    def stored(self, seq: int) -> Order:
        """The order as stored, with the sequence number the database gave it."""
        return replace(self.order, seq=seq)


class SqlReads:
    """`get`, `list` and `count` of an `OrderStore` over the backend's way to run a query."""

    # The driver's parameter marker (`?` for sqlite3, `%s` for psycopg).
    placeholder = "?"

    def get(self, order_id: str) -> Order | None:
        """Return the order with this id, or None."""
        row = self._fetch_one(
            f"SELECT {COLUMNS} FROM orders WHERE id = {self.placeholder}", (order_id,)
        )
        return None if row is None else order_from_row(row)

    def list(self, customer_id: str, limit: int, after_seq: int = 0) -> tuple[list[Order], bool]:
        """Return up to `limit` orders after `after_seq` in sequence (creation) order, and
        whether more follow.

        An empty customer_id lists every customer's orders.
        """
        query, params = list_query(customer_id, limit, after_seq, self.placeholder)
        rows = self._fetch_all(query, params)
        orders = [order_from_row(row) for row in rows[:limit]]
        return orders, len(rows) > limit

    def count(self) -> int:
        """Return the number of stored orders."""
        row = self._fetch_one("SELECT COUNT(*) FROM orders", None)
        assert row is not None
        return int(row[0])

    def _by_idempotency_key_sql(self) -> str:
        """The SELECT of the order stored under an idempotency key, with its fingerprint."""
        return (
            f"SELECT {COLUMNS}, fingerprint FROM orders WHERE idempotency_key = {self.placeholder}"
        )

    @staticmethod
    def _order_and_fingerprint(row: Row) -> tuple[Order, str]:
        """An order and its fingerprint from a row of `_by_idempotency_key_sql`."""
        return order_from_row(row[:-1]), str(row[-1])

    def _fetch_one(self, query: str, params: tuple[object, ...] | None) -> Row | None:
        """The query's first row (None when there is none)."""
        raise NotImplementedError

    def _fetch_all(self, query: str, params: tuple[object, ...]) -> Rows:
        """Every row of the query."""
        raise NotImplementedError
