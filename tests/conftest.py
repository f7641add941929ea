"""Session-wide fixtures shared by several test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_stack.harness.local_postgres import PostgresServer, running_postgres
from tests.postgres_tools import require_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skips without PostgreSQL installed)."""
    require_postgres()
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres.create_database()
