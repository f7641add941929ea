"""What every order store offers, whichever database holds the orders.

The servicer sees only the `OrderStore` protocol defined here;
`services.order_api.backends.open_store` picks the backend. Both keep the same
promises: an order is committed before `create` returns, an idempotency key is
unique in the database, and listings page by the order's sequence number.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from typing import Protocol

STATUS_CREATED = "CREATED"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


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


class StoreUnavailableError(Exception):
    """The database cannot be reached now; the call may succeed when retried."""


class SchemaTooNewError(Exception):
    """The database was migrated by a newer order-api than this one."""


class OrderStore(Protocol):
    """Orders in a database; safe to share between threads."""

    def create(
        self, customer_id: str, items: tuple[Item, ...], idempotency_key: str = ""
    ) -> tuple[Order, bool]:
        """Store a new order; return it and whether it was created now.

        With an idempotency key already used for the same order, the stored
        order is returned with created=False; used for another order,
        IdempotencyConflictError is raised.
        """
        ...

    def get(self, order_id: str) -> Order | None:
        """Return the order with this id, or None."""
        ...

    def list(self, customer_id: str, limit: int, after_seq: int = 0) -> tuple[list[Order], bool]:
        """Return up to `limit` orders after `after_seq` in sequence order, and whether more follow.

        An empty customer_id lists every customer's orders.
        """
        ...

    def count(self) -> int:
        """Return the number of stored orders."""
        ...

    def ping(self) -> bool:
        """Return whether the database answers now."""
        ...

    def close(self) -> None:
        """Release the database; the store is unusable afterwards."""
        ...


@dataclass(frozen=True)
class PoolSettings:
    """Connection pool of a PostgreSQL store (ignored by SQLite)."""

    min_size: int = 1
    max_size: int = 10
    connect_timeout_seconds: float = 5.0
    # How long a call waits for a free connection before the store reports itself unavailable.
    acquire_timeout_seconds: float = 5.0


def is_postgres_url(location: str) -> bool:
    """Whether ORDER_API_DB names a PostgreSQL database rather than a SQLite file."""
    return location.startswith(POSTGRES_SCHEMES)


def redacted(location: str) -> str:
    """ORDER_API_DB fit for logs and errors: a URL's password replaced by ***."""
    if not is_postgres_url(location):
        return location
    parts = urllib.parse.urlsplit(location)
    if parts.password is None:
        return location
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def order_total(items: tuple[Item, ...]) -> int:
    """The order's total in cents."""
    return sum(item.quantity * item.unit_price_cents for item in items)


def items_to_json(items: tuple[Item, ...]) -> str:
    """The items as stored: a compact JSON list of [sku, quantity, unit price]."""
    return json.dumps([[i.sku, i.quantity, i.unit_price_cents] for i in items])


def items_from_json(text: str) -> tuple[Item, ...]:
    """The items from their stored JSON."""
    return tuple(Item(sku, quantity, price) for sku, quantity, price in json.loads(text))


def fingerprint(customer_id: str, items: tuple[Item, ...]) -> str:
    """What an idempotency key is bound to: the customer and the items."""
    canonical = json.dumps([customer_id, items_to_json(items)])
    return hashlib.sha256(canonical.encode()).hexdigest()
