"""The order-api and the web-gateway as a pair of local processes: ports, environments, lifetime.

One place says how the two services are run outside a container: which
variables each gets, where its log and database go, what "ready" means
(gRPC health SERVING for the order-api, `GET /readyz` answering 200 for the
gateway). `otel-stack up` starts them from `service_specs`; tests and the
benchmarks use `running_stack`, which picks free loopback ports and stops
both whatever happens.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from otel_stack.harness import processes
from otel_stack.harness.processes import Service, ServiceSpec
from otel_stack.harness.readiness import grpc_serving, http_ok

ORDER_API = "order-api"
GATEWAY = "web-gateway"
MODULES = {ORDER_API: "services.order_api", GATEWAY: "services.web_gateway"}
# The services' own settings and the SDK's: a run decides them, the caller's shell does not.
SERVICE_VARIABLE_PREFIXES = ("OTEL_", "ORDER_API_", "GATEWAY_", "ACCESS_LOG")
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 20.0


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago, in ascending order."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def clean_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without the services' own and OTEL_* variables, plus overrides."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(SERVICE_VARIABLE_PREFIXES)
    }
    environ.update(overrides)
    return environ


@dataclass(frozen=True)
class StackPorts:
    """The loopback ports of one pair: gateway HTTP, order-api gRPC, order-api /metrics."""

    gateway: int
    grpc: int
    metrics: int

    @classmethod
    def free(cls) -> StackPorts:
        """Three distinct ports that were free a moment ago."""
        return cls(*free_ports(3))

    @property
    def gateway_url(self) -> str:
        """Base URL of the web-gateway."""
        return f"http://127.0.0.1:{self.gateway}"

    @property
    def grpc_target(self) -> str:
        """host:port of the order-api's gRPC server."""
        return f"127.0.0.1:{self.grpc}"

    @property
    def order_api_metrics_url(self) -> str:
        """The order-api's /metrics."""
        return f"http://127.0.0.1:{self.metrics}/metrics"


def service_specs(
    ports: StackPorts,
    data_dir: Path,
    environ: Mapping[str, str],
    *,
    launcher: bool = True,
    faults: Sequence[str] = (),
    db: str | None = None,
    order_api_target: str | None = None,
) -> list[ServiceSpec]:
    """How to run the order-api and the web-gateway, in start order, on top of `environ`.

    `db` is the order-api's ORDER_API_DB (default: `orders.db` in `data_dir`);
    `order_api_target` the gateway's ORDER_API_TARGET (default: this order-api).
    """
    command = processes.launcher_command if launcher else processes.module_command
    order_env = {
        **environ,
        "ORDER_API_LISTEN": ports.grpc_target,
        "ORDER_API_DB": db or str(data_dir / "orders.db"),
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(ports.metrics),
    }
    if faults:
        order_env["ORDER_API_FAULTS"] = ",".join(faults)
    gateway_env = {
        **environ,
        "GATEWAY_LISTEN": f"127.0.0.1:{ports.gateway}",
        "ORDER_API_TARGET": order_api_target or ports.grpc_target,
    }
    readyz = f"{ports.gateway_url}/readyz"
    return [
        ServiceSpec(
            name=ORDER_API,
            command=command(MODULES[ORDER_API]),
            env=order_env,
            log_path=data_dir / f"{ORDER_API}.log",
            ready=lambda: grpc_serving(ports.grpc_target),
            ready_description=f"gRPC health SERVING on {ports.grpc_target}",
        ),
        ServiceSpec(
            name=GATEWAY,
            command=command(MODULES[GATEWAY]),
            env=gateway_env,
            log_path=data_dir / f"{GATEWAY}.log",
            ready=lambda: http_ok(readyz),
            ready_description=f"GET {readyz} answering 200",
        ),
    ]


@dataclass
class Stack:
    """A running order-api and web-gateway pair."""

    ports: StackPorts
    services: dict[str, Service]

    @property
    def gateway_url(self) -> str:
        """Base URL of the web-gateway."""
        return self.ports.gateway_url

    @property
    def order_api_target(self) -> str:
        """host:port of the order-api's gRPC server."""
        return self.ports.grpc_target

    @property
    def order_api_metrics_url(self) -> str:
        """The order-api's /metrics."""
        return self.ports.order_api_metrics_url

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        """The current process of each service, by name."""
        return {name: service.process for name, service in self.services.items()}

    def stop(self, name: str, grace: float = STOP_GRACE_SECONDS) -> int:
        """SIGTERM one service (SIGKILL after `grace`) and return its exit code."""
        return self.services[name].stop(grace)

    def log(self, name: str) -> str:
        """Everything the service wrote to its log so far (restarts included)."""
        return self.services[name].log()

    def restart(self, name: str) -> Service:
        """Start a stopped (or killed) service again: same port, database and log.

        Not waited for: poll its readiness.
        """
        if self.services[name].exit_code() is None:
            raise RuntimeError(f"{name} is still running")
        self.services[name] = processes.spawn(self.services[name].spec, append_log=True)
        return self.services[name]


@contextmanager
def running_stack(
    data_dir: Path, *, launcher: bool = False, environ: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """Start order-api then web-gateway on free ports, each once ready; stop both on exit.

    `environ` adds to a clean environment (see `clean_environ`); `launcher`
    runs both under `opentelemetry-instrument`. Raises StartupError naming the
    service that did not come up.
    """
    ports = StackPorts.free()
    specs = service_specs(ports, data_dir, clean_environ(**(environ or {})), launcher=launcher)
    stack = Stack(ports, {})
    try:
        for spec in specs:
            stack.services[spec.name] = processes.start(spec, timeout=STARTUP_TIMEOUT_SECONDS)
        yield stack
    finally:
        processes.stop_all(list(stack.services.values()), grace=STOP_GRACE_SECONDS)
