"""Helpers for tests of servers and processes: free ports, polling with a deadline, subprocesses."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "the condition") -> None:
    """Poll `predicate` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def clean_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without the services' own and OTEL_* variables, plus overrides."""
    prefixes = ("OTEL_", "ORDER_API_", "GATEWAY_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    environ.update(overrides)
    return environ


def start_process(
    args: Sequence[str], env: Mapping[str, str], *, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `python <args>` in the repository with stdout and stderr going to `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *args], env=dict(env), cwd=REPO, stdout=log, stderr=log
        )


def terminate(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM `process` (if still running) and return its exit code; SIGKILL it after `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@contextmanager
def serving_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port in a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
