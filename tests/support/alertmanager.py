"""A real Alertmanager for tests: amtool, and an Alertmanager on a free port.

The binaries are the release compose runs (`otel_stack.deploy.go_tools.ALERTMANAGER`,
built by `make alertmanager`). Without them a test skips, saying how to build
them; with REQUIRE_ALERTMANAGER=1 (as in CI) it fails instead.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_stack.harness import local_alertmanager, processes
from otel_stack.harness.running import free_port
from tests.support.tools import require_tool


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `amtool ARGS…` and return its result (not checked)."""
    return subprocess.run(
        [require_tool("alertmanager", "amtool"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass(frozen=True)
class Alertmanager:
    """An Alertmanager started by a test, used through its v2 HTTP API."""

    url: str
    port: int

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus does."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: every alert with its status (active, suppressed, inhibitedBy)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            result: list[dict[str, Any]] = json.loads(response.read())
        return result


@contextmanager
def running_alertmanager(directory: Path, config_text: str) -> Iterator[Alertmanager]:
    """Run Alertmanager with this configuration on a free loopback port until the block ends."""
    binary = require_tool("alertmanager", "alertmanager")
    directory.mkdir(parents=True, exist_ok=True)
    config_path = local_alertmanager.write_config(directory, config_text)
    port = free_port()
    service = processes.start(
        local_alertmanager.spec(binary, directory, port=port, config_path=config_path),
        timeout=30,
    )
    try:
        yield Alertmanager(f"http://127.0.0.1:{port}", port)
    finally:
        processes.stop_all([service], grace=10)
