"""`otel-stack up --processes N`: each service as N worker processes behind its usual ports."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from services.supervisor import ALL_WORKERS_SERVING
from tests.otel_stack.cli.stack_run import (
    UpPorts,
    port_is_free,
    processes_using,
    run_cli,
    up_command,
)

PROCESSES = 2


def test_a_bad_process_count_is_refused_in_one_line() -> None:
    for value in ("0", "abc", "33"):
        result = run_cli(
            [sys.executable, "-m", "otel_stack", "up", "--processes", value], timeout=30
        )
        assert result.returncode == 2, value
        assert "--processes" in result.stderr, value
        assert "Traceback" not in result.stderr


def test_up_runs_every_service_as_its_workers_and_stops_them_all(tmp_path: Path) -> None:
    ports = UpPorts.free()
    data_dir = tmp_path / "stack"
    result = run_cli(
        up_command(
            ports,
            data_dir,
            f"--processes={PROCESSES}",
            "--duration=6",
            "--refresh=1",
            "--rate=25",
            "--no-prometheus",
        ),
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for service in ("order-api", "web-gateway"):
        log = (data_dir / f"{service}.log").read_text()
        assert f"{ALL_WORKERS_SERVING} ({PROCESSES})" in log, service
        assert f"{service} stopped" in log.splitlines()[-1], service
    summary = result.stdout.split("\nsummary:")[1]
    created = re.search(r"orders created: (\d+) total", summary)
    assert created is not None and int(created[1]) > 0
    assert processes_using(data_dir) == []
    assert [port for port in ports.all() if not port_is_free(port)] == []
