"""`otel-stack up` when a service cannot start: clear error, non-zero exit, nothing left."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.otel_stack.cli.stack_run import (
    UpPorts,
    port_is_free,
    processes_using,
    run_cli,
    up_command,
)


@dataclass(frozen=True)
class FailedRun:
    """An `up` run whose gateway port was taken."""

    result: subprocess.CompletedProcess[str]
    ports: UpPorts
    data_dir: Path


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedRun]:
    ports = UpPorts.free()
    data_dir = tmp_path_factory.mktemp("up-failure") / "stack"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports.gateway))
        blocker.listen()
        result = run_cli(up_command(ports, data_dir, "--duration", "5", "--no-prometheus"))
        yield FailedRun(result, ports, data_dir)


def test_exit_code_is_non_zero(failed_run: FailedRun) -> None:
    assert failed_run.result.returncode == 1, failed_run.result.stdout


def test_message_names_the_service_and_the_cause(failed_run: FailedRun) -> None:
    first = failed_run.result.stderr.splitlines()[0]
    assert first.startswith("otel-stack: web-gateway did not start: exited with code")
    assert "address already in use" in first.lower()


def test_message_shows_the_end_of_the_service_log(failed_run: FailedRun) -> None:
    stderr = failed_run.result.stderr
    assert "last lines of the web-gateway log:" in stderr
    tail = [line for line in stderr.splitlines() if line.startswith("  | ")]
    assert 0 < len(tail) <= 15


def test_no_traceback_is_shown(failed_run: FailedRun) -> None:
    assert "Traceback" not in failed_run.result.stderr


def test_the_order_api_that_did_start_is_stopped(failed_run: FailedRun) -> None:
    assert "stopped: order-api exit 0" in failed_run.result.stdout
    assert processes_using(failed_run.data_dir) == []
    assert port_is_free(failed_run.ports.grpc) and port_is_free(failed_run.ports.metrics)


def test_bad_inject_spec_is_refused_before_anything_starts(tmp_path: Path) -> None:
    ports = UpPorts.free()
    result = run_cli(up_command(ports, tmp_path / "stack", "--inject", "error:GetOrder=2"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "otel-stack up: error: --inject: bad fault spec 'error:GetOrder=2': "
        "error ratio must be between 0 and 1"
    )
    assert not (tmp_path / "stack").exists()
