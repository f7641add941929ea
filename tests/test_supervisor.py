"""`services.supervisor` at start-up: what stops it before or while its workers boot.

Running workers, restarts and the drain are proven under load in
`tests/reliability/test_worker_processes.py`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.running import free_port
from tests.support import REPO

START_TIMEOUT = 120


def _run(module: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        env=child_environ(environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def test_a_bad_telemetry_variable_stops_the_supervisor_in_one_line_before_any_worker() -> None:
    result = _run(
        "services.web_gateway",
        GATEWAY_PROCESSES="2",
        GATEWAY_LISTEN=f"127.0.0.1:{free_port()}",
        OTEL_METRICS_EXPORTER="bogus",
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "web-gateway: OTEL_METRICS_EXPORTER='bogus': unknown exporter 'bogus' "
        "(valid: prometheus, otlp, console, none)"
    ]


def test_workers_that_cannot_listen_stop_the_supervisor_with_exit_1() -> None:
    with socket.socket() as taken:  # without SO_REUSEPORT: no worker can share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(
            "services.web_gateway",
            GATEWAY_PROCESSES="2",
            GATEWAY_LISTEN=f"127.0.0.1:{port}",
            OTEL_SDK_DISABLED="true",
        )

    assert result.returncode == 1
    assert f"web-gateway: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "before serving; stopping" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_order_api_supervisor_names_a_taken_metrics_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(
            "services.order_api",
            ORDER_API_PROCESSES="2",
            ORDER_API_LISTEN=f"127.0.0.1:{free_port()}",
            ORDER_API_DB=str(tmp_path / "orders.db"),
            OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
            OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        )

    assert result.returncode == 1
    assert not (tmp_path / "orders.db").exists()  # stopped before any worker started
    assert result.stderr.splitlines()[-1].startswith(
        f"order-api: cannot serve metrics on 127.0.0.1:{port}:"
    )
