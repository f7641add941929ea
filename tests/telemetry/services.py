"""Both services as real subprocesses on free loopback ports, for end-to-end telemetry tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers import REPO, clean_environ, free_port, wait_until

LAUNCHER = Path(sys.executable).parent / "opentelemetry-instrument"


@dataclass
class Stack:
    """A running order-api and web-gateway pair."""

    gateway_url: str
    order_api_target: str
    order_api_metrics_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]
    environs: dict[str, dict[str, str]] = field(default_factory=dict)
    launcher: bool = False

    def stop(self, name: str) -> int:
        """SIGTERM one service and return its exit code."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process.wait(timeout=30)

    def log(self, name: str) -> str:
        """Everything the service wrote to stdout/stderr so far."""
        return self.logs[name].read_text(errors="replace")

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start a stopped (or killed) service again with the same environment: same port, DB.

        The new process appends to the same log. It is not waited for: poll its readiness.
        """
        if self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is still running")
        module = _MODULES[name]
        self.processes[name] = _spawn(
            module, self.environs[name], self.logs[name], self.launcher, append=True
        )
        return self.processes[name]


_MODULES = {"order-api": "services.order_api", "web-gateway": "services.web_gateway"}


def _spawn(
    module: str, environ: Mapping[str, str], log: Path, launcher: bool, *, append: bool = False
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", module]
    if launcher:
        command = [str(LAUNCHER), *command]
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(command, env=dict(environ), cwd=REPO, stdout=out, stderr=out)


def grpc_serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=0.5
            )
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_stack(
    tmp_path: Path, *, launcher: bool = False, environ: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """Start order-api then web-gateway (optionally under opentelemetry-instrument)."""
    grpc_port, metrics_port, http_port = free_port(), free_port(), free_port()
    common = dict(environ or {})
    order_env = clean_environ(
        ORDER_API_LISTEN=f"127.0.0.1:{grpc_port}",
        ORDER_API_DB=str(tmp_path / "orders.db"),
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(metrics_port),
        **common,
    )
    gateway_env = clean_environ(
        GATEWAY_LISTEN=f"127.0.0.1:{http_port}",
        ORDER_API_TARGET=f"127.0.0.1:{grpc_port}",
        **common,
    )
    logs = {"order-api": tmp_path / "order-api.log", "web-gateway": tmp_path / "web-gateway.log"}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stack = Stack(
        gateway_url=f"http://127.0.0.1:{http_port}",
        order_api_target=f"127.0.0.1:{grpc_port}",
        order_api_metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        processes=processes,
        logs=logs,
        environs={"order-api": order_env, "web-gateway": gateway_env},
        launcher=launcher,
    )
    try:
        processes["order-api"] = _spawn(
            _MODULES["order-api"], order_env, logs["order-api"], launcher
        )
        wait_until(lambda: grpc_serving(stack.order_api_target), 30, "order-api health")
        processes["web-gateway"] = _spawn(
            _MODULES["web-gateway"], gateway_env, logs["web-gateway"], launcher
        )
        wait_until(lambda: _http_ok(stack.gateway_url + "/readyz"), 30, "web-gateway /readyz")
        yield stack
    finally:
        for name in reversed(list(processes)):
            if processes[name].poll() is None:
                processes[name].send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
