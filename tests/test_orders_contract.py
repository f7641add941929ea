"""The identifier rule of the order API's contract (services/orders_contract.py)."""

from __future__ import annotations

import pytest

from services.orders_contract import MAX_ID_LENGTH, ValidationError, check_identifier


def test_required_identifier_must_not_be_empty() -> None:
    with pytest.raises(ValidationError) as raised:
        check_identifier("id", "")

    assert raised.value == ValidationError("id", "must not be empty")


def test_optional_identifier_may_be_empty() -> None:
    check_identifier("customer_id", "", required=False)


@pytest.mark.parametrize("value", ["x" * (MAX_ID_LENGTH + 1), "a b", "a/b", "é", "a\x00b"])
def test_optional_identifier_is_still_checked_when_present(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check_identifier("customer_id", value, required=False)

    assert raised.value.field == "customer_id"
