"""Durable order storage in SQLite.

One connection guarded by a lock serves all gRPC worker threads; the database
runs in WAL mode with synchronous=FULL, so an order is on disk before the
caller hears about it and survives a crash of the process (or the machine).
All SQL is parameterised.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    items TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, seq);
"""

STATUS_CREATED = "CREATED"


@dataclass(frozen=True)
class Item:
    """One line of an order."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class Order:
    """An order as stored."""

    id: str
    customer_id: str
    items: tuple[Item, ...]
    total_cents: int
    status: str
    created_at_us: int
    seq: int


class IdempotencyConflictError(Exception):
    """The idempotency key was already used for a different order."""


class OrderStore:
    """Orders in one SQLite file; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def create(
        self, customer_id: str, items: tuple[Item, ...], idempotency_key: str = ""
    ) -> tuple[Order, bool]:
        """Store a new order; return it and whether it was created now.

        With an idempotency key already used for the same order, the stored
        order is returned with created=False; used for another order,
        IdempotencyConflictError is raised.
        """
        fingerprint = _fingerprint(customer_id, items)
        with self._lock:
            if idempotency_key:
                existing = self._by_idempotency_key(idempotency_key)
                if existing is not None:
                    order, stored_fingerprint = existing
                    if stored_fingerprint != fingerprint:
                        raise IdempotencyConflictError(idempotency_key)
                    return order, False
            order_id = uuid.uuid4().hex
            created_at_us = time.time_ns() // 1000
            total = sum(item.quantity * item.unit_price_cents for item in items)
            cursor = self._db.execute(
                "INSERT INTO orders (id, customer_id, items, total_cents, status,"
                " created_at_us, idempotency_key, fingerprint)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    customer_id,
                    _items_to_json(items),
                    total,
                    STATUS_CREATED,
                    created_at_us,
                    idempotency_key or None,
                    fingerprint,
                ),
            )
            seq = cursor.lastrowid
        assert seq is not None
        order = Order(order_id, customer_id, items, total, STATUS_CREATED, created_at_us, seq)
        return order, True

    def get(self, order_id: str) -> Order | None:
        """Return the order with this id, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM orders WHERE id = ?", (order_id,)
            ).fetchone()
        return None if row is None else _order_from_row(row)

    def list(self, customer_id: str, limit: int, after_seq: int = 0) -> tuple[list[Order], bool]:
        """Return up to `limit` orders after `after_seq` in creation order, and whether more follow.

        An empty customer_id lists every customer's orders.
        """
        query = f"SELECT {_COLUMNS} FROM orders WHERE seq > ?"
        params: tuple[object, ...] = (after_seq,)
        if customer_id:
            query += " AND customer_id = ?"
            params += (customer_id,)
        query += " ORDER BY seq LIMIT ?"
        params += (limit + 1,)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        orders = [_order_from_row(row) for row in rows[:limit]]
        return orders, len(rows) > limit

    def count(self) -> int:
        """Return the number of stored orders."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM orders").fetchone()
        return int(count)

    def _by_idempotency_key(self, key: str) -> tuple[Order, str] | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS}, fingerprint FROM orders WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return _order_from_row(row[:-1]), str(row[-1])


_COLUMNS = "id, customer_id, items, total_cents, status, created_at_us, seq"


def _order_from_row(row: tuple[Any, ...]) -> Order:
    order_id, customer_id, items, total, status, created_at_us, seq = row
    return Order(order_id, customer_id, _items_from_json(items), total, status, created_at_us, seq)


def _items_to_json(items: tuple[Item, ...]) -> str:
    return json.dumps([[i.sku, i.quantity, i.unit_price_cents] for i in items])


def _items_from_json(text: str) -> tuple[Item, ...]:
    return tuple(Item(sku, quantity, price) for sku, quantity, price in json.loads(text))


def _fingerprint(customer_id: str, items: tuple[Item, ...]) -> str:
    canonical = json.dumps([customer_id, _items_to_json(items)])
    return hashlib.sha256(canonical.encode()).hexdigest()
