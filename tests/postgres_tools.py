"""Skip or fail a test that needs PostgreSQL (`otel_stack.harness.local_postgres` runs it).

Without the binaries a test skips, saying how to install them; with
REQUIRE_POSTGRES=1 (as in CI) it fails instead, so nothing skips silently there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otel_stack.harness.local_postgres import PostgresNotFoundError, find_binaries


def require_postgres() -> Path:
    """The directory of initdb/postgres; skip without them, fail when REQUIRE_POSTGRES=1."""
    try:
        return find_binaries()
    except PostgresNotFoundError as error:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(str(error))
        pytest.skip(str(error))
