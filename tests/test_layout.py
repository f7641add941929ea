"""The tree's rules: who may import whom, and what each top-level package holds.

`bench/`, `services/`, `otel/` and `otel_stack/` import nothing from `tests/`: what
tests and benchmarks both need lives in `otel_stack/harness/`, and only
pytest-specific helpers stay under `tests/`. `services/` holds the two services,
their shared contract and what runs either as worker processes, nothing else;
`otel/` imports nothing from `services/`.
"""

from __future__ import annotations

import ast

import pytest

from tests.support import REPO

NOT_IMPORTING_TESTS = ("bench", "services", "otel", "otel_stack")
# What services/ holds: the two services and their generated protocol.
SERVICES = ["order_api", "proto", "web_gateway"]
# What both share at run time: configuration parsing, the contract, and running either as
# several worker processes (the supervisor and a worker's role).
SERVICES_MODULES = [
    "__init__.py",
    "envconfig.py",
    "orders_contract.py",
    "startup.py",
    "supervisor.py",
    "workers.py",
]


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


def test_services_holds_only_the_services_and_their_contract() -> None:
    folder = REPO / "services"
    packages = sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file())
    modules = sorted(p.name for p in folder.glob("*.py"))
    assert (packages, modules) == (SERVICES, SERVICES_MODULES)


def test_otel_imports_nothing_from_the_services_or_the_tooling() -> None:
    offending = {
        str(path.relative_to(REPO)): name
        for path in sorted((REPO / "otel").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
        if name.split(".")[0] in ("services", "otel_stack")
    }
    assert offending == {}
