"""What a worker process of a service knows about itself, and how many workers a service runs.

With GATEWAY_PROCESSES / ORDER_API_PROCESSES above 1, the process the user
starts becomes a supervisor (`services.supervisor`) that starts that many
workers: fresh interpreters running the same command with the same
environment plus SERVICE_WORKER_INDEX (0 … N-1) and SERVICE_WORKER_DIR (a
private directory holding each worker's metrics socket, see
`otel.worker_metrics`). Those two variables are set by the supervisor only;
a process with them set is a worker and never supervises.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from otel import prometheus
from otel.worker_metrics import ExpositionServer, worker_socket_name
from services import envconfig

logger = logging.getLogger(__name__)

WORKER_INDEX = "SERVICE_WORKER_INDEX"
WORKER_DIR = "SERVICE_WORKER_DIR"
# More processes than this on one pod or machine is a sign of a typo, not of a plan.
MAX_PROCESSES = 32
_PARENT_CHECK_SECONDS = 1.0


def processes(environ: Mapping[str, str], name: str) -> int:
    """The worker count a *_PROCESSES variable asks for: 1 (no supervisor) up to MAX_PROCESSES."""
    return envconfig.integer(environ, name, 1, 1, MAX_PROCESSES)


def single_port(
    address: tuple[str, int], name: str, count: int, processes_name: str
) -> tuple[str, int]:
    """`address`, refused when several workers would each pick their own free port (port 0)."""
    if count > 1 and address[1] == 0:
        raise envconfig.ConfigError(
            f"{name}={envconfig.format_address(address)!r}: port 0 gives each worker its own "
            f"port; name a port when {processes_name} is above 1"
        )
    return address


@dataclass(frozen=True)
class WorkerRole:
    """This process is worker `index` of a supervisor sharing `directory` with its workers."""

    index: int
    directory: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> WorkerRole | None:
        """The role the supervisor gave this process; None for a process started by a user."""
        if WORKER_INDEX not in environ:
            return None
        index = envconfig.integer(environ, WORKER_INDEX, 0, 0, MAX_PROCESSES - 1)
        directory = environ.get(WORKER_DIR, "")
        if not directory or not Path(directory).is_dir():
            raise envconfig.ConfigError(f"{WORKER_DIR}={directory!r}: expected a directory")
        return cls(index, Path(directory))

    @property
    def socket_path(self) -> Path:
        """Where this worker serves its metrics to the process answering scrapes."""
        return self.directory / worker_socket_name(self.index)


def stop_with_parent() -> threading.Thread:
    """SIGTERM this process (its normal drain) once its supervisor is gone (even by SIGKILL)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_SECONDS)
        logger.warning("supervisor (pid %d) is gone; stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def serve_as_worker(role: WorkerRole, registry: CollectorRegistry | None) -> ExpositionServer:
    """Serve this worker's own series on its socket, and stop when the supervisor is gone.

    The socket appearing is what tells the supervisor this worker serves, so call
    this once the service listens. Without a registry (telemetry off or pushed
    over OTLP) the socket answers an empty exposition.
    """
    exposition = ExpositionServer(
        role.socket_path,
        (lambda accept: prometheus.render(registry, accept))
        if registry is not None
        else (lambda _accept: (b"", prometheus.TEXT_CONTENT_TYPE)),
    )
    stop_with_parent()
    return exposition
