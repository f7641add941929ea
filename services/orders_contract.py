"""The order API's contract, shared by both services: input limits and the identifier rule.

The order-api enforces them (it is the authority on what a valid order is); the
gateway uses the same values for its early shape checks and its error messages.
Both import them from here rather than from each other. Every limit is
documented in the README and the OpenAPI document (a test compares them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
