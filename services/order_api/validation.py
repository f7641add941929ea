"""Input limits of the order-api and the checks that enforce them.

The order-api is the authority on what a valid order is; the gateway only checks
JSON shape. Every limit here is documented in the README and the OpenAPI document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.proto.orders.v1 import orders_pb2

MAX_ITEMS = 100
MAX_ID_LENGTH = 64
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE_CENTS = 100_000_000
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# Printable ASCII without spaces keeps ids safe in URLs, logs and labels.
_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]+")


@dataclass(frozen=True)
class ValidationError(Exception):
    """A request field that breaks a rule; `field` names it the way the API does."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def check_identifier(field: str, value: str, *, required: bool = True) -> None:
    """Check an id-like string: present (if required), bounded, URL-safe characters."""
    if not value:
        if required:
            raise ValidationError(field, "must not be empty")
        return
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(field, f"must be at most {MAX_ID_LENGTH} characters")
    if not _ID_PATTERN.fullmatch(value):
        raise ValidationError(field, "may contain only letters, digits and . _ : -")


def check_create_request(request: orders_pb2.CreateOrderRequest) -> None:
    """Raise ValidationError for the first field of a CreateOrder request that breaks a rule."""
    check_identifier("customer_id", request.customer_id)
    check_identifier("idempotency_key", request.idempotency_key, required=False)
    if not request.items:
        raise ValidationError("items", "must contain at least one item")
    if len(request.items) > MAX_ITEMS:
        raise ValidationError("items", f"must contain at most {MAX_ITEMS} items")
    for index, item in enumerate(request.items):
        field = f"items[{index}]"
        check_identifier(f"{field}.sku", item.sku)
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise ValidationError(f"{field}.quantity", f"must be between 1 and {MAX_QUANTITY}")
        if not 0 <= item.unit_price_cents <= MAX_UNIT_PRICE_CENTS:
            raise ValidationError(
                f"{field}.unit_price_cents", f"must be between 0 and {MAX_UNIT_PRICE_CENTS}"
            )


def check_page_size(page_size: int) -> int:
    """Return the effective page size (0 means the default) or raise ValidationError."""
    if page_size == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    return page_size
