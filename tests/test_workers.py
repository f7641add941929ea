"""`services.workers`: the worker count, and the role a supervisor gives a worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.envconfig import ConfigError
from services.workers import WORKER_DIR, WORKER_INDEX, WorkerRole, processes, single_port


def test_a_process_started_by_a_user_has_no_role() -> None:
    assert WorkerRole.from_env({}) is None


def test_a_worker_reads_its_index_and_directory(tmp_path: Path) -> None:
    role = WorkerRole.from_env({WORKER_INDEX: "3", WORKER_DIR: str(tmp_path)})

    assert role == WorkerRole(3, tmp_path)
    assert role.socket_path == tmp_path / "worker-3.sock"


@pytest.mark.parametrize("environ", [{WORKER_INDEX: "x", WORKER_DIR: "/"}, {WORKER_INDEX: "1"}])
def test_a_broken_role_is_a_config_error(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        WorkerRole.from_env(environ)


def test_processes_default_to_one_and_are_bounded() -> None:
    assert processes({}, "X_PROCESSES") == 1
    assert processes({"X_PROCESSES": "32"}, "X_PROCESSES") == 32
    with pytest.raises(ConfigError) as raised:
        processes({"X_PROCESSES": "33"}, "X_PROCESSES")
    assert str(raised.value) == "X_PROCESSES='33': expected a whole number from 1 to 32"


def test_port_0_is_refused_only_for_several_workers() -> None:
    assert single_port(("127.0.0.1", 0), "X_LISTEN", 1, "X_PROCESSES") == ("127.0.0.1", 0)
    assert single_port(("127.0.0.1", 80), "X_LISTEN", 2, "X_PROCESSES") == ("127.0.0.1", 80)
    with pytest.raises(ConfigError) as raised:
        single_port(("127.0.0.1", 0), "X_LISTEN", 2, "X_PROCESSES")
    assert str(raised.value).startswith("X_LISTEN='127.0.0.1:0': port 0")
