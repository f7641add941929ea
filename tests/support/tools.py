"""The one rule for the real components a test needs: skip without them, fail when required.

`require_tool(tool)` finds a component (Prometheus, Alertmanager, the collector,
PostgreSQL, network namespaces, dnsmasq, kustomize, uv, kube-apiserver with its etcd)
and returns where it is. Without it a test skips, saying how to get it; with the
component's REQUIRE_* flag set to 1 (as `.ci/run` does) it fails instead, so nothing
skips silently in CI.

Markers follow from the same table: `tests/conftest.py` gives a test the marker
of every component whose support code it uses (directly or through a fixture),
and `e2e` when it uses code that starts processes, so `-m "not prometheus"` or
`make unit` (`-m "not e2e"`) select without anyone marking tests by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from otel_stack.deploy import go_tools
from otel_stack.harness import local_collector, local_dns
from otel_stack.harness.local_collector import CollectorBuildError
from otel_stack.harness.local_postgres import PostgresNotFoundError, find_binaries

KUSTOMIZE_HINT = (
    "neither kustomize nor kubectl on PATH: `.ci/run` builds kustomize v5.7.1 "
    "(GOBIN=… go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1)"
)


class ToolMissingError(Exception):
    """A component is not there; the message says how to get it."""

    def __init__(self, reason: str, *, broken: bool = False) -> None:
        super().__init__(reason)
        # Present but failing (the collector's build with Go installed): never a skip.
        self.broken = broken


@dataclass(frozen=True)
class Tool:
    """A component tests may need: its REQUIRE_* flag, how to find it, who uses it."""

    flag: str
    find: Callable[[str | None], str]
    # Modules whose users (or whose own tests) need the component: those tests get its marker.
    used_by: tuple[str, ...] = ()


def _go_release(release: go_tools.GoRelease, default: str) -> Callable[[str | None], str]:
    def find(command: str | None) -> str:
        name = command or default
        path = go_tools.find(release, name)
        if path is None:
            raise ToolMissingError(
                f"{name} {release.version} not built "
                f"({go_tools.binary_path(release, name)}): {go_tools.build_hint(release)}"
            )
        return str(path)

    return find


def _kube_apiserver(command: str | None) -> str:
    """kube-apiserver, or with `etcd` the etcd it stores in: both are needed together."""
    release = go_tools.ETCD if command == "etcd" else go_tools.KUBE_APISERVER
    return _go_release(release, release.name)(command)


def _collector(_command: str | None) -> str:
    try:
        return str(local_collector.build(progress=lambda line: print(f"\n{line}", file=sys.stderr)))
    except CollectorBuildError as error:
        raise ToolMissingError(
            f"no OpenTelemetry Collector: {error} (then: make collector)",
            broken=local_collector.find_go() is not None,
        ) from None


def _postgres(_command: str | None) -> str:
    try:
        return str(find_binaries())
    except PostgresNotFoundError as error:
        raise ToolMissingError(str(error)) from None


def _netns(_command: str | None) -> str:
    ip = shutil.which("ip")
    if ip is None:
        raise ToolMissingError("iproute2's `ip` is not on PATH: apt-get install iproute2")
    if os.geteuid() != 0:
        raise ToolMissingError("creating network namespaces needs root")
    return ip


def _dnsmasq(_command: str | None) -> str:
    found = local_dns.find_binary()
    if found is None:
        raise ToolMissingError(f"dnsmasq not installed: {local_dns.INSTALL_HINT}")
    return found


def _kustomize(_command: str | None) -> str:
    found = shutil.which("kustomize") or shutil.which("kubectl")
    if found is None:
        raise ToolMissingError(KUSTOMIZE_HINT)
    return found


def _uv(_command: str | None) -> str:
    beside_python = Path(sys.executable).parent / "uv"
    found = str(beside_python) if beside_python.exists() else shutil.which("uv")
    if found is None:
        raise ToolMissingError("uv not installed: `make venv` installs it from requirements/uv.txt")
    return found


TOOLS = {
    "prometheus": Tool(
        "REQUIRE_PROMETHEUS",
        _go_release(go_tools.PROMETHEUS, "prometheus"),
        (
            "tests.support.prometheus",
            "tests.support.prometheus_expectations",
            "tests.support.otlp_prometheus",
        ),
    ),
    "alertmanager": Tool(
        "REQUIRE_ALERTMANAGER",
        _go_release(go_tools.ALERTMANAGER, "alertmanager"),
        ("tests.support.alertmanager",),
    ),
    "collector": Tool("REQUIRE_COLLECTOR", _collector, ("tests.support.collector",)),
    "postgres": Tool("REQUIRE_POSTGRES", _postgres, ("otel_stack.harness.local_postgres",)),
    "netns": Tool("REQUIRE_NETNS", _netns, ("tests.scale.netns", "tests.scale.cluster")),
    # Not otel_stack.harness.local_dns itself: the `up` planning tests import it without running it.
    "dnsmasq": Tool(
        "REQUIRE_DNSMASQ",
        _dnsmasq,
        ("tests.scale.dns_cluster", "tests.otel_stack.harness.test_local_dns"),
    ),
    "kustomize": Tool("REQUIRE_KUSTOMIZE", _kustomize, ("tests.support.kubernetes",)),
    "uv": Tool("REQUIRE_UV", _uv, ("tests.deploy.test_lock",)),
    "kube_apiserver": Tool(
        "REQUIRE_KUBE_APISERVER", _kube_apiserver, ("tests.support.kube_apiserver",)
    ),
}
# Code that starts child processes: a test using it is end to end (`make unit` leaves it out).
STARTS_PROCESSES = (
    "subprocess",
    "otel_stack.harness.processes",
    "otel_stack.harness.running",
    "otel_stack.harness.local_postgres",
    "tests.otel_stack.cli.stack_run",
)


def required(tool: str) -> bool:
    """Whether the environment requires `tool` (its REQUIRE_* flag is 1)."""
    return os.environ.get(TOOLS[tool].flag) == "1"


def require_tool(tool: str, command: str | None = None) -> str:
    """Where `tool` (or its `command`, e.g. promtool) is; skip without it, fail if required."""
    try:
        return TOOLS[tool].find(command)
    except ToolMissingError as error:
        _skip_or_fail(tool, error)


def _skip_or_fail(tool: str, error: ToolMissingError) -> NoReturn:
    if error.broken or required(tool):
        pytest.fail(str(error))
    pytest.skip(str(error))


def markers_for(modules: Iterable[ModuleType]) -> set[str]:
    """The markers of tests written in `modules`: each tool whose support code they use, `e2e`."""
    used = {name for module in modules for name in {module.__name__, *_origins(module)}}
    markers = {tool for tool, spec in TOOLS.items() if any(name in used for name in spec.used_by)}
    if markers or any(name in used for name in STARTS_PROCESSES):
        markers.add("e2e")
    return markers


def _origins(module: ModuleType) -> set[str]:
    """The modules `module`'s own names come from (imported modules, functions, classes)."""
    origins = set()
    for value in vars(module).values():
        if isinstance(value, ModuleType):
            origins.add(value.__name__)
        elif isinstance(getattr(value, "__module__", None), str):
            origins.add(value.__module__)
    return origins
