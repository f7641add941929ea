"""Starting, waiting for and stopping child processes (otel_stack/harness/processes.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from otel_stack.harness.processes import ServiceSpec, StartupError, start, stop_all
from tests.otel_stack.cli.stack_run import processes_using


def _spec(tmp_path: Path, code: str, ready: Callable[[], bool] = lambda: False) -> ServiceSpec:
    return ServiceSpec(
        name="svc",
        command=[sys.executable, "-u", "-c", code],
        env={"MARKER": str(tmp_path)},
        log_path=tmp_path / "svc.log",
        ready=ready,
        ready_description="never",
    )


def _log_says(tmp_path: Path, text: str) -> Callable[[], bool]:
    return lambda: text in (tmp_path / "svc.log").read_text()


def test_child_that_exits_is_reported_with_its_last_line(tmp_path: Path) -> None:
    code = "import sys; print('booting'); sys.exit('svc: cannot listen: address in use')"
    with pytest.raises(StartupError) as caught:
        start(_spec(tmp_path, code), timeout=10)
    assert caught.value.service == "svc"
    assert caught.value.cause == "exited with code 1: svc: cannot listen: address in use"
    assert caught.value.log_tail == ["booting", "svc: cannot listen: address in use"]


def test_child_not_ready_in_time_is_stopped(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "import time; time.sleep(60)")
    with pytest.raises(StartupError, match=r"svc did not start: not ready within 0.5s \(never\)"):
        start(spec, timeout=0.5)
    assert processes_using(tmp_path) == []


def test_stop_all_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ignoring SIGTERM'); time.sleep(60)"
    )
    service = start(_spec(tmp_path, code, _log_says(tmp_path, "ignoring")), timeout=10)
    assert stop_all([service], grace=0.5) == {"svc": -9}
    assert processes_using(tmp_path) == []
