"""Order storage in PostgreSQL: one database shared by any number of order-api replicas.

Connections come from a `psycopg_pool` pool in autocommit mode, so every
statement is its own transaction and an order is committed before `create`
returns. Each connection is checked when it leaves the pool, so connections
broken by a database restart are dropped and replaced instead of failing a
call. An unreachable database (no connection within the pool timeout, or one
lost mid-call) raises StoreUnavailableError, which the servicer turns into
UNAVAILABLE.

The schema is versioned: at start each replica takes a transaction-scoped
advisory lock, applies the migrations the database lacks and records them, so
replicas starting together on an empty database apply each migration once.
Idempotency keys are unique in the database: replicas racing with the same key
meet in `INSERT … ON CONFLICT DO NOTHING`, and exactly one row wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from psycopg_pool import ConnectionPool

from otel.instruments import project_meter
from services.order_api.store import (
    IdempotencyConflictError,
    Item,
    Order,
    PoolSettings,
    SchemaTooNewError,
    StoreUnavailableError,
    fingerprint,
)
from services.order_api.store_sql import NewOrder, Row, Rows, SqlReads

logger = logging.getLogger(__name__)

# Arbitrary but fixed: every replica serialises its migrations on this advisory lock.
MIGRATION_LOCK_KEY = 0x6F72646572617069  # "orderapi"
POOL_NAME = "order-api"
RECONNECT_TIMEOUT_SECONDS = 5.0
# A health check waits at most this long for a connection.
PING_TIMEOUT_SECONDS = 1.0

# Migration N (1-based) is MIGRATIONS[N - 1]; never edit one that has shipped, append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE orders (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            customer_id TEXT NOT NULL,
            items TEXT NOT NULL,
            total_cents BIGINT NOT NULL,
            status TEXT NOT NULL,
            created_at_us BIGINT NOT NULL,
            idempotency_key TEXT UNIQUE,
            fingerprint TEXT NOT NULL
        )""",
        "CREATE INDEX orders_by_customer ON orders (customer_id, seq)",
    ),
)

T = TypeVar("T")


class PostgresOrderStore(SqlReads):
    """Orders in a PostgreSQL database, through a connection pool; safe across threads."""

    placeholder = "%s"

    def __init__(
        self,
        url: str,
        *,
        pool: PoolSettings | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        settings = pool or PoolSettings()
        self._pool = ConnectionPool(
            url,
            min_size=settings.min_size,
            max_size=settings.max_size,
            timeout=settings.acquire_timeout_seconds,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, round(settings.connect_timeout_seconds)),
            },
            check=ConnectionPool.check_connection,
            # The pool retries a lost connection with doubling delays until this
            # timeout, then gives up until the next call asks for one: short, so
            # that recovery after a long outage is not one long backoff away.
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
            name=POOL_NAME,
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=settings.connect_timeout_seconds)
            self._run(migrate)
        except psycopg_pool.PoolTimeout as error:
            self._pool.close()
            raise StoreUnavailableError(
                f"no connection within {settings.connect_timeout_seconds:g}s"
            ) from error
        except BaseException:
            self._pool.close()
            raise
        if meter_provider is not None:
            register_pool_metrics(meter_provider, self._pool, settings.max_size)

    def close(self) -> None:
        """Close every pooled connection; the store is unusable afterwards."""
        self._pool.close()

    def ping(self) -> bool:
        """Return whether the database answers a query now."""
        try:
            self._run(lambda conn: conn.execute("SELECT 1"), timeout=PING_TIMEOUT_SECONDS)
        except StoreUnavailableError:
            return False
        return True

    def create(
        self, customer_id: str, items: tuple[Item, ...], idempotency_key: str = ""
    ) -> tuple[Order, bool]:
        """Store a new order; return it and whether it was created now (see OrderStore)."""
        order_fingerprint = fingerprint(customer_id, items)
        new = NewOrder.make(customer_id, items, idempotency_key, order_fingerprint)

        def insert(conn: psycopg.Connection[Any]) -> tuple[Order, bool]:
            row = conn.execute(
                NewOrder.insert_sql("%s")
                + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq",
                new.values(),
            ).fetchone()
            if row is not None:
                return new.stored(row[0]), True
            # The key is taken (ON CONFLICT waited for the other writer to commit).
            existing = conn.execute(self._by_idempotency_key_sql(), (idempotency_key,)).fetchone()
            assert existing is not None
            order, stored_fingerprint = self._order_and_fingerprint(existing)
            if stored_fingerprint != order_fingerprint:
                raise IdempotencyConflictError(idempotency_key)
            return order, False

        return self._run(insert)

    def _fetch_one(self, query: str, params: tuple[object, ...] | None) -> Row | None:
        return self._run(lambda conn: conn.execute(query, params).fetchone())

    def _fetch_all(self, query: str, params: tuple[object, ...]) -> Rows:
        return self._run(lambda conn: conn.execute(query, params).fetchall())

    def _run(
        self, work: Callable[[psycopg.Connection[Any]], T], *, timeout: float | None = None
    ) -> T:
        """Run `work` on a pooled connection; a lost or unreachable database is unavailable."""
        with _unavailable_on_connection_errors(), self._pool.connection(timeout) as conn:
            return work(conn)


@contextmanager
def _unavailable_on_connection_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.OperationalError as error:
        # PoolTimeout is an OperationalError too: no connection within the pool timeout.
        raise StoreUnavailableError(str(error).splitlines()[0] if str(error) else "") from error


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest migration applied to this database (0 for an empty one)."""
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM order_api_schema").fetchone()
    assert row is not None
    return int(row[0])


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the schema up to date under the migration lock; return the version now applied."""
    with conn.transaction():
        # Taken before any DDL: concurrent CREATE … IF NOT EXISTS can still collide.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS order_api_schema ("
            " version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = schema_version(conn)
        if current > len(MIGRATIONS):
            raise SchemaTooNewError(
                f"database schema version {current} is newer than this order-api"
                f" knows ({len(MIGRATIONS)})"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO order_api_schema (version) VALUES (%s)", (version,))
            logger.info("order-api: applied schema migration %d", version)
    return len(MIGRATIONS)


def register_pool_metrics(
    meter_provider: MeterProvider, pool: ConnectionPool, max_size: int
) -> None:
    """Publish the pool's connections (used/idle), waiting requests and size limit.

    Names and attributes follow the database client semantic conventions
    (`db.client.connection.*`); values are read from the pool at collection time.
    """
    meter = project_meter(meter_provider)
    pool_name = {"db.client.connection.pool.name": POOL_NAME}

    def connections(_options: CallbackOptions) -> Iterable[Observation]:
        stats = pool.get_stats()
        idle = stats.get("pool_available", 0)
        used = stats.get("pool_size", 0) - idle
        yield Observation(used, {**pool_name, "db.client.connection.state": "used"})
        yield Observation(idle, {**pool_name, "db.client.connection.state": "idle"})

    def pending(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(pool.get_stats().get("requests_waiting", 0), pool_name)

    def limit(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(max_size, pool_name)

    meter.create_observable_up_down_counter(
        "db.client.connection.count",
        callbacks=[connections],
        unit="{connection}",
        description="Pooled database connections by state (used or idle).",
    )
    meter.create_observable_up_down_counter(
        "db.client.connection.pending_requests",
        callbacks=[pending],
        unit="{request}",
        description="Calls waiting for a pooled database connection.",
    )
    meter.create_observable_up_down_counter(
        "db.client.connection.max",
        callbacks=[limit],
        unit="{connection}",
        description="The most connections the pool opens.",
    )
