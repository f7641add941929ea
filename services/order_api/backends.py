"""Opening the order store ORDER_API_DB names: a SQLite file or a PostgreSQL database.

A file path opens SQLite (the embedded default, one process), a `postgresql://`
URL opens PostgreSQL (shared by any number of replicas). Kept apart from
`store.py`, which both backends import, so nothing imports in a circle.
"""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

from services.order_api.store import OrderStore, PoolSettings, is_postgres_url


def open_store(
    location: str,
    *,
    pool: PoolSettings | None = None,
    meter_provider: MeterProvider | None = None,
) -> OrderStore:
    """Open the store named by ORDER_API_DB: a `postgresql://` URL or a SQLite file path."""
    if is_postgres_url(location):
        # Imported here so that SQLite users need not load psycopg.
        from services.order_api.store_postgres import PostgresOrderStore  # noqa: PLC0415

        return PostgresOrderStore(location, pool=pool, meter_provider=meter_provider)
    from services.order_api.store_sqlite import SqliteOrderStore  # noqa: PLC0415

    return SqliteOrderStore(location)
