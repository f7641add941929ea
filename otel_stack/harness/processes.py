"""The one way to run a child process: start it, wait until it is ready, stop it.

`otel-stack up`, the tests and the benchmarks start every server they need
(the services, Prometheus, Alertmanager, PostgreSQL, the collector) from a
`ServiceSpec` through this module. Each child runs in a process group of its
own (so a Ctrl-C in the terminal reaches only `otel-stack`, which then stops the
children in order) and writes stdout and stderr to a log file. A child that
exits or is not ready before a deadline raises `StartupError` carrying the cause
and the end of its log; stopping sends the spec's stop signal (SIGTERM unless
it says otherwise) to the group, waits, and sends SIGKILL after a grace period,
so nothing is left running whatever happened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

LAUNCHER = "opentelemetry-instrument"
LOG_TAIL_LINES = 15
POLL_SECONDS = 0.1


class StartupError(Exception):
    """A service that did not come up: which, why, and the end of its log."""

    def __init__(self, service: str, cause: str, log_tail: Sequence[str] = ()) -> None:
        super().__init__(f"{service} did not start: {cause}")
        self.service = service
        self.cause = cause
        self.log_tail = list(log_tail)


class StartupCancelledError(Exception):
    """Startup was interrupted (Ctrl-C or SIGTERM) while waiting for a service."""


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service and how to tell that it is ready."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    ready: Callable[[], bool]
    ready_description: str
    cwd: Path | None = None
    # The signal that asks it to stop (PostgreSQL's fast shutdown is SIGINT).
    stop_signal: signal.Signals = signal.SIGTERM


@dataclass
class Service:
    """A started child process."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]

    @property
    def name(self) -> str:
        """The service's name."""
        return self.spec.name

    @property
    def pid(self) -> int:
        """The child's process id (also its process group id)."""
        return self.process.pid

    def exit_code(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.process.poll()

    def log(self) -> str:
        """Everything the service wrote to its log so far."""
        return self.spec.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last lines of the service's log."""
        return log_tail(self.spec.log_path, lines)

    def signal(self, signum: signal.Signals) -> None:
        """Send `signum` to the child's process group, if the child has not been reaped."""
        # poll() reaps an exited child; until then its pid (= group id) cannot be reused.
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, grace: float) -> int:
        """The stop signal, wait up to `grace` seconds, then SIGKILL; return the exit code."""
        self.signal(self.spec.stop_signal)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs; killing it", self.name, grace)
            self.signal(signal.SIGKILL)
            return self.process.wait()


def launcher_path() -> Path:
    """The `opentelemetry-instrument` launcher installed next to this interpreter."""
    return Path(sys.executable).parent / LAUNCHER


def module_command(module: str) -> list[str]:
    """`<this python> -m module`: a service started without the launcher."""
    return [sys.executable, "-m", module]


def launcher_command(module: str) -> list[str]:
    """`opentelemetry-instrument <this python> -m module`, the way the services are deployed.

    The launcher resolves a bare `python` through PATH, so the interpreter is passed explicitly.
    """
    launcher = launcher_path()
    if not launcher.exists():
        raise StartupError(
            module.rpartition(".")[2].replace("_", "-"),
            f"{LAUNCHER} not found next to {sys.executable} "
            "(pip install opentelemetry-instrumentation)",
        )
    return [str(launcher), *module_command(module)]


def start(
    spec: ServiceSpec, *, timeout: float = 20.0, cancelled: Callable[[], bool] = lambda: False
) -> Service:
    """Start a service and wait until it is ready; raise StartupError (child stopped) if not."""
    service = spawn(spec)
    try:
        wait_ready(service, timeout, cancelled)
    except BaseException:
        service.stop(grace=5.0)
        raise
    return service


def spawn(spec: ServiceSpec, *, append_log: bool = False) -> Service:
    """Start a service without waiting for it to be ready (`append_log` keeps its old log)."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_path.open("ab" if append_log else "wb") as log:
        try:
            process = subprocess.Popen(
                list(spec.command),
                env=dict(spec.env),
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            raise StartupError(spec.name, f"cannot run {spec.command[0]}: {error}") from None
    logger.info("started %s (pid %d): %s", spec.name, process.pid, " ".join(spec.command))
    return Service(spec, process)


def stop_all(services: Sequence[Service], *, grace: float = 15.0) -> dict[str, int]:
    """Stop services in reverse start order; return each one's exit code."""
    codes: dict[str, int] = {}
    for service in reversed(services):
        codes[service.name] = service.stop(grace)
        logger.info("%s exited with code %d", service.name, codes[service.name])
    return codes


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a log file (none if it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def wait_ready(
    service: Service, timeout: float, cancelled: Callable[[], bool] = lambda: False
) -> None:
    """Poll until `service` is ready; raise StartupError if it exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        code = service.exit_code()
        if code is not None:
            raise StartupError(service.name, _exit_cause(service, code), service.log_tail())
        if service.spec.ready():
            return
        if cancelled():
            raise StartupCancelledError(f"interrupted while waiting for {service.name}")
        if time.monotonic() >= deadline:
            raise StartupError(
                service.name,
                f"not ready within {timeout:g}s ({service.spec.ready_description})",
                service.log_tail(),
            )
        time.sleep(POLL_SECONDS)


def _exit_cause(service: Service, code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    # The services end with a one-line message saying why they stopped.
    last = next((line.strip() for line in reversed(service.log_tail()) if line.strip()), "")
    return f"exited with code {code}" + (f": {last}" if last else "")
