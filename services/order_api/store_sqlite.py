"""Durable order storage in one SQLite file: the embedded default for a single process.

One connection guarded by a lock serves all gRPC worker threads of a process;
worker processes of one order-api each open their own connection to the same
file, and SQLite's own locking (WAL mode, a busy timeout, an immediate
transaction around the idempotency check) keeps them consistent. The database
runs in WAL mode with synchronous=FULL, so an order is on disk before the
caller hears about it and survives a crash of the process (or the machine).
All SQL is parameterised.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from services.order_api.store import (
    IdempotencyConflictError,
    Item,
    Order,
    fingerprint,
)
from services.order_api.store_sql import NewOrder, Row, Rows, SqlReads

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


class SqliteOrderStore(SqlReads):
    """Orders in one SQLite file; safe to share between threads and worker processes."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        # First: worker processes opening the file together wait for each other's locks.
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def ping(self) -> bool:
        """An open SQLite file always answers."""
        return True

    def create(
        self, customer_id: str, items: tuple[Item, ...], idempotency_key: str = ""
    ) -> tuple[Order, bool]:
        """Store a new order; return it and whether it was created now (see OrderStore)."""
        order_fingerprint = fingerprint(customer_id, items)
        with self._lock:
            if idempotency_key:
                # The key's check and the insert in one write transaction: another worker
                # process cannot insert the same key in between.
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    existing = self._by_idempotency_key(idempotency_key)
                    if existing is not None:
                        order, stored_fingerprint = existing
                        if stored_fingerprint != order_fingerprint:
                            raise IdempotencyConflictError(idempotency_key)
                        return order, False
                    created = self._insert(customer_id, items, idempotency_key, order_fingerprint)
                    self._db.execute("COMMIT")
                    return created
                finally:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
            return self._insert(customer_id, items, idempotency_key, order_fingerprint)

    def _insert(
        self, customer_id: str, items: tuple[Item, ...], idempotency_key: str, fingerprint: str
    ) -> tuple[Order, bool]:
        """Insert a new order (the caller holds the lock)."""
        new = NewOrder.make(customer_id, items, idempotency_key, fingerprint)
        cursor = self._db.execute(NewOrder.insert_sql("?"), new.values())
        seq = cursor.lastrowid
        assert seq is not None
        return new.stored(seq), True

    def _fetch_one(self, query: str, params: tuple[object, ...] | None) -> Row | None:
        with self._lock:
            row: Row | None = self._db.execute(query, params or ()).fetchone()
        return row

    def _fetch_all(self, query: str, params: tuple[object, ...]) -> Rows:
        with self._lock:
            return self._db.execute(query, params).fetchall()

    def _by_idempotency_key(self, key: str) -> tuple[Order, str] | None:
        row = self._db.execute(self._by_idempotency_key_sql(), (key,)).fetchone()
        return None if row is None else self._order_and_fingerprint(row)
