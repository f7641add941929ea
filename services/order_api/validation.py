"""The order-api's checks of incoming requests, against the limits of `services.orders_contract`.

The order-api is the authority on what a valid order is; the gateway only checks
JSON shape.
"""

from __future__ import annotations

from services import orders_contract as contract
from services.orders_contract import ValidationError, check_identifier
from services.proto.orders.v1 import orders_pb2


def check_create_request(request: orders_pb2.CreateOrderRequest) -> None:
    """Raise ValidationError for the first field of a CreateOrder request that breaks a rule."""
    check_identifier("customer_id", request.customer_id)
    check_identifier("idempotency_key", request.idempotency_key, required=False)
    if not request.items:
        raise ValidationError("items", "must contain at least one item")
    if len(request.items) > contract.MAX_ITEMS:
        raise ValidationError("items", f"must contain at most {contract.MAX_ITEMS} items")
    for index, item in enumerate(request.items):
        field = f"items[{index}]"
        check_identifier(f"{field}.sku", item.sku)
        if not 1 <= item.quantity <= contract.MAX_QUANTITY:
            raise ValidationError(
                f"{field}.quantity", f"must be between 1 and {contract.MAX_QUANTITY}"
            )
        if not 0 <= item.unit_price_cents <= contract.MAX_UNIT_PRICE_CENTS:
            raise ValidationError(
                f"{field}.unit_price_cents",
                f"must be between 0 and {contract.MAX_UNIT_PRICE_CENTS}",
            )


def check_page_size(page_size: int) -> int:
    """Return the effective page size (0 means the default) or raise ValidationError."""
    if page_size == 0:
        return contract.DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= contract.MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"must be between 1 and {contract.MAX_PAGE_SIZE}")
    return page_size
