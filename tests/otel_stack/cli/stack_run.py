"""Running `python -m otel_stack up` in tests, and checking that it left nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from otel_stack.harness import local_alertmanager
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.local_prometheus import find_binary
from otel_stack.harness.running import free_ports
from tests.support import REPO
from tests.support.tools import required


@dataclass(frozen=True)
class UpPorts:
    """Free loopback ports for one `up` run."""

    gateway: int
    grpc: int
    metrics: int
    prometheus: int
    alertmanager: int
    alert_sink: int

    @classmethod
    def free(cls) -> UpPorts:
        """Six distinct ports that were free a moment ago."""
        return cls(*free_ports(6))

    def all(self) -> tuple[int, ...]:
        """Every port of the run."""
        return (
            self.gateway,
            self.grpc,
            self.metrics,
            self.prometheus,
            self.alertmanager,
            self.alert_sink,
        )


def up_command(ports: UpPorts, data_dir: Path, *extra: str) -> list[str]:
    """The `up` command line for these ports and data directory."""
    return [
        sys.executable,
        "-m",
        "otel_stack",
        "up",
        f"--gateway-port={ports.gateway}",
        f"--grpc-port={ports.grpc}",
        f"--metrics-port={ports.metrics}",
        f"--prometheus-port={ports.prometheus}",
        f"--alertmanager-port={ports.alertmanager}",
        f"--alert-sink-port={ports.alert_sink}",
        f"--data-dir={data_dir}",
        *extra,
    ]


def run_cli(
    command: Sequence[str], *, timeout: float = 60, environ: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command (`up_command`'s, say) to its end in a clean environment plus `environ`."""
    return subprocess.run(
        list(command),
        cwd=REPO,
        env=child_environ(environ or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def prometheus_expected() -> bool:
    """Whether `up` should start Prometheus here (installed, or required by the environment)."""
    return find_binary() is not None or required("prometheus")


def alertmanager_expected() -> bool:
    """Whether `up` should start Alertmanager here (with Prometheus, and found or required)."""
    found = local_alertmanager.find_binary() is not None
    return prometheus_expected() and (found or required("alertmanager"))


def processes_using(data_dir: Path) -> list[str]:
    """Descriptions of live processes whose command line or environment mentions `data_dir`."""
    marker = str(data_dir)
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.pid == os.getpid():
            continue
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = " ".join(process.environ().values()) if process.is_running() else ""
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if marker in cmdline or marker in environ:
            found.append(f"pid {process.pid}: {cmdline}")
    return found


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
