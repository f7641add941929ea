"""The supervisor: the process a user starts when a service runs several worker processes.

It builds no telemetry and serves no requests. It starts the workers as fresh
interpreters (the same interpreter, command line and environment it was started
with, plus each worker's index: under `opentelemetry-instrument` the launcher's
`sitecustomize` then sets up each worker exactly as it would a single process),
so nothing that must not cross a `fork` — gRPC channels and servers, SDK
providers and their export threads, database connections — exists before a
worker builds its own. The workers share the service's port through
`SO_REUSEPORT`; the kernel spreads connections over them.

- A worker that dies after it started serving is started again (logged, counted in
  `service_worker_restarts_total{worker}`), at most once a second per worker. A
  worker that exits before serving (bad configuration, port taken, database
  unreachable) stops the supervisor with exit code 2 for a configuration error,
  1 otherwise: restarting it would fail the same way, and the orchestrator
  restarting the whole service is the better loop.
- SIGTERM or SIGINT is passed to every worker, each drains as a single process
  does within its grace period; the supervisor waits for them (killing any left
  after the grace period and a margin) and exits 0.
- Metrics: each worker serves its registry on a socket in a private directory;
  the supervisor serves its own counter there too, and for the order-api answers
  `/metrics` on the metrics port by merging them (`otel.worker_metrics`). The
  gateway's `/metrics` is on its API port, answered by whichever worker the
  kernel picks, which merges the same way.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from otel import prometheus
from otel.worker_metrics import (
    SUPERVISOR_SOCKET,
    ExpositionServer,
    MergedMetrics,
    serve_http,
    worker_socket_name,
)
from services.workers import WORKER_DIR, WORKER_INDEX

logger = logging.getLogger(__name__)

# Logged once every worker serves: what process managers and tests wait for.
ALL_WORKERS_SERVING = "all workers serving"
RESTARTS_METRIC = "service_worker_restarts"
MIN_RESTART_INTERVAL_SECONDS = 1.0
# Beyond the workers' own grace period: time to flush telemetry and exit.
EXIT_MARGIN_SECONDS = 5.0
POLL_SECONDS = 0.1
EXIT_CONFIG_ERROR = 2


class SupervisorError(RuntimeError):
    """The supervisor could not start (its metrics port is taken); the message says why."""


@dataclass(frozen=True)
class SupervisorSettings:
    """What the supervisor of one service needs to know."""

    service_name: str
    processes: int
    grace_seconds: float
    # Where to answer GET /metrics with every worker's series (the order-api's listener).
    metrics_listen: tuple[str, int] | None = None
    # Its TLS server context source when the listener is https (ORDER_API_METRICS_TLS_*).
    metrics_tls: Callable[[], ssl.SSLContext] | None = None


@dataclass
class _Slot:
    index: int
    socket: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    serving: bool = False
    restarts: int = 0


class _RestartsCollector(Collector):
    def __init__(self, slots: Sequence[_Slot]) -> None:
        self._slots = slots

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            RESTARTS_METRIC,
            "Worker processes the supervisor started again after they died",
            labels=["worker"],
        )
        for slot in self._slots:
            family.add_metric([str(slot.index)], slot.restarts)
        yield family


@dataclass
class Supervisor:
    """Runs `command` as `settings.processes` workers until SIGTERM/SIGINT; see the module doc."""

    settings: SupervisorSettings
    command: Sequence[str]
    environ: Mapping[str, str]
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def _name(self) -> str:
        return self.settings.service_name

    def run(self) -> int:
        """Supervise until stopped; the exit code (0 after SIGTERM/SIGINT).

        Raises SupervisorError when the metrics port cannot be bound.
        """
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda _signum, _frame: self._stopping.set())
        directory = Path(tempfile.mkdtemp(prefix=f"{self.settings.service_name}-workers-"))
        try:
            return self._run_in(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _run_in(self, directory: Path) -> int:
        name = self.settings.service_name
        slots = [
            _Slot(index, directory / worker_socket_name(index))
            for index in range(self.settings.processes)
        ]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_RestartsCollector(slots))
        own = ExpositionServer(
            directory / SUPERVISOR_SOCKET, lambda accept: prometheus.render(registry, accept)
        )
        http: prometheus.MetricsServer | None = None
        metrics_note = ""
        try:
            if self.settings.metrics_listen is not None:
                host, port = self.settings.metrics_listen
                try:
                    http = serve_http(
                        MergedMetrics(directory).render,
                        host,
                        port,
                        ssl_context=self.settings.metrics_tls,
                    )
                except OSError as error:
                    message = f"cannot serve metrics on {host}:{port}: {error}"
                    raise SupervisorError(message) from None
                scheme = "https" if self.settings.metrics_tls else "http"
                metrics_note = f", metrics of all workers on {scheme}://{host}:{http.port}/metrics"
            for slot in slots:
                self._start(slot, directory)
            logger.info("%s supervising %d worker processes%s", name, len(slots), metrics_note)
            code = self._supervise(slots, directory)
            self._stop_workers(slots)
            logger.info("%s stopped", name)
            return code
        finally:
            if http is not None:
                http.stop()
            own.stop()

    def _supervise(self, slots: list[_Slot], directory: Path) -> int:
        announced = False
        while not self._stopping.wait(POLL_SECONDS):
            for slot in slots:
                if slot.process is None:
                    if time.monotonic() >= slot.started_at + MIN_RESTART_INTERVAL_SECONDS:
                        self._start(slot, directory)
                    continue
                slot.serving = slot.serving or slot.socket.exists()
                code = slot.process.poll()
                if code is None or self._stopping.is_set():
                    continue  # a worker exiting on the same SIGTERM is no death
                if not slot.serving:
                    logger.error(
                        "worker %d (pid %d) exited with code %d before serving; stopping",
                        slot.index,
                        slot.process.pid,
                        code,
                    )
                    return EXIT_CONFIG_ERROR if code == EXIT_CONFIG_ERROR else 1
                slot.restarts += 1
                logger.warning(
                    "worker %d (pid %d) died (%s); starting it again (restart %d)",
                    slot.index,
                    slot.process.pid,
                    _exit_description(code),
                    slot.restarts,
                )
                slot.process = None
            if not announced and all(slot.serving for slot in slots):
                announced = True
                logger.info("%s: %s (%d)", self._name, ALL_WORKERS_SERVING, len(slots))
        logger.info("%s stopping: draining %d workers", self._name, len(slots))
        return 0

    def _start(self, slot: _Slot, directory: Path) -> None:
        """Start the slot's worker; if the system refuses (no memory, no pids), retry later."""
        slot.socket.unlink(missing_ok=True)  # the worker creates it once it serves
        environ = {**self.environ, WORKER_INDEX: str(slot.index), WORKER_DIR: str(directory)}
        slot.started_at = time.monotonic()
        slot.serving = False
        try:
            slot.process = subprocess.Popen(
                list(self.command), env=environ, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            logger.error("cannot start worker %d: %s; trying again", slot.index, error)
            slot.process = None
            return
        logger.info("started worker %d (pid %d)", slot.index, slot.process.pid)

    def _stop_workers(self, slots: list[_Slot]) -> None:
        running = [slot.process for slot in slots if slot.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.grace_seconds + EXIT_MARGIN_SECONDS
        for process in running:
            try:
                code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d still running after its grace: killed", process.pid)
                process.kill()
                code = process.wait()
            if code != 0:
                logger.warning("worker pid %d exited with %s", process.pid, _exit_description(code))


def _exit_description(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def worker_command() -> list[str]:
    """This process's own command line, to start a worker: same interpreter, options and module."""
    return [sys.executable, *sys.orig_argv[1:]]


def supervise(settings: SupervisorSettings) -> int:
    """Run this process as the supervisor of `settings.processes` copies of itself.

    Raises SupervisorError when it cannot start.
    """
    return Supervisor(settings, worker_command(), dict(os.environ)).run()
