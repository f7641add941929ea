"""What both services do as they start: install their telemetry, then wait for a stop signal.

`install_telemetry` builds and installs the service's providers from its
settings (a worker's resource names its index) and sends the service's logs
through them; `stop_signal` returns the event SIGTERM or SIGINT sets, and
`wait_for_stop` waits for it in a way the signal can always end.
"""

from __future__ import annotations

import signal
import threading

from otel.logs import configure_logging
from otel.sdk import Telemetry, build_and_install
from otel.settings import TelemetrySettings
from services.workers import WorkerRole

# How often a main thread waiting for a stop signal wakes. CPython runs a Python signal
# handler only in the main thread, between bytecodes; when the kernel delivers SIGTERM to
# another thread (a server's or gRPC's), nothing interrupts the main thread's blocking
# wait, so a plain `Event.wait()` could sleep through the signal for good.
STOP_POLL_SECONDS = 0.2


def install_telemetry(
    service_name: str,
    settings: TelemetrySettings,
    *,
    access_log_ratio: float,
    role: WorkerRole | None,
) -> Telemetry:
    """Build and install the service's telemetry and log through it; ConfigError if unusable."""
    telemetry = build_and_install(
        service_name,
        settings,
        access_log_ratio=access_log_ratio,
        worker_index=role.index if role else None,
    )
    configure_logging(telemetry.service_name, telemetry.logger_provider)
    return telemetry


def stop_signal() -> threading.Event:
    """An event that SIGTERM or SIGINT sets from now on."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    return stopping


def wait_for_stop(stopping: threading.Event) -> None:
    """Return once `stopping` is set, waking now and then so a pending signal handler runs."""
    while not stopping.wait(STOP_POLL_SECONDS):
        pass
