"""The tree's import rule: tests and benchmarks share the harness in `services/stack/`.

`bench/`, `services/` and `otel/` import nothing from `tests/` (issue 16): what
both need lives in `services/stack/`, and only pytest-specific helpers stay
under `tests/`.
"""

from __future__ import annotations

import ast

import pytest

from tests.helpers import REPO

NOT_IMPORTING_TESTS = ("bench", "services", "otel")


def imports_of_tests(source: str) -> list[str]:
    """The `tests` modules a Python source imports, as written (absolute imports only)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name == "tests" or name.startswith("tests.")]
    return found


def test_the_checker_finds_every_form_of_importing_tests() -> None:
    source = "import tests.helpers\nfrom tests import helpers\nfrom tests.postgres_tools import x\n"
    assert imports_of_tests(source) == ["tests.helpers", "tests", "tests.postgres_tools"]


def test_the_checker_ignores_lookalike_modules() -> None:
    source = "import testsuite\nfrom services.tests import x\nfrom .tests import y\n"
    assert imports_of_tests(source) == []


@pytest.mark.parametrize("package", NOT_IMPORTING_TESTS)
def test_package_imports_nothing_from_tests(package: str) -> None:
    modules = sorted((REPO / package).rglob("*.py"))
    assert modules, f"no Python modules under {package}/"
    offending = {
        str(path.relative_to(REPO)): imported
        for path in modules
        if (imported := imports_of_tests(path.read_text()))
    }
    assert offending == {}
