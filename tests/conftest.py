"""Session-wide fixtures shared by several test packages, and the markers of every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from otel_stack.harness.local_postgres import PostgresServer, running_postgres
from tests.support.tools import TOOLS, markers_for, require_tool


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the components it needs and `e2e` (see `tests.support.tools`)."""
    for item in items:
        modules = (
            {sys.modules[item.module.__name__]} if isinstance(item, pytest.Function) else set()
        )
        fixtures = getattr(item, "_fixtureinfo", None)
        for definitions in fixtures.name2fixturedefs.values() if fixtures else ():
            modules.update(sys.modules[d.func.__module__] for d in definitions)
        names = markers_for(modules) | {marker.name for marker in item.iter_markers()}
        if names & TOOLS.keys():
            names.add("e2e")
        for name in sorted(names - {marker.name for marker in item.iter_markers()}):
            item.add_marker(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skips without PostgreSQL installed)."""
    require_tool("postgres")
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres.create_database()
