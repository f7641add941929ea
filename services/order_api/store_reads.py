"""The reads both SQL backends share: `get`, `list` and `count`, written once.

A backend says how it runs one query (`_fetch_one`, `_fetch_all`: SQLite
under its lock, PostgreSQL on a pooled connection) and which parameter marker
its driver takes; the SQL and the rows → `Order` conversion are here.
"""

from __future__ import annotations

from typing import Any

from services.order_api.store import COLUMNS, Order, list_query, order_from_row

Row = tuple[Any, ...]
Rows = list[Row]


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

    def _fetch_one(self, query: str, params: tuple[object, ...] | None) -> Row | None:
        """The query's first row (None when there is none)."""
        raise NotImplementedError

    def _fetch_all(self, query: str, params: tuple[object, ...]) -> Rows:
        """Every row of the query."""
        raise NotImplementedError
