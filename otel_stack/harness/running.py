"""The order-api and the web-gateway as a pair of local processes: ports, environments, lifetime.

One place says how the two services are run outside a container: which
variables each gets, where its log and database go, what "ready" means
(gRPC health SERVING for the order-api, `GET /readyz` answering 200 for the
gateway). `otel-stack up` starts them from `service_specs`; tests and the
benchmarks use `running_stack`, which picks free loopback ports and stops
both whatever happens.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from otel_stack.harness import processes
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import Service, ServiceSpec
from otel_stack.harness.readiness import grpc_serving, http_ok, listening
from services.supervisor import ALL_WORKERS_SERVING
from services.web_gateway import tls as gateway_tls

ORDER_API = "order-api"
GATEWAY = "web-gateway"
MODULES = {ORDER_API: "services.order_api", GATEWAY: "services.web_gateway"}
GATEWAY_PROCESSES = "GATEWAY_PROCESSES"
ORDER_API_PROCESSES = "ORDER_API_PROCESSES"
STARTUP_TIMEOUT_SECONDS = 30.0
# Each further worker process: a fresh interpreter importing the SDK on a shared machine.
STARTUP_SECONDS_PER_WORKER = 15.0
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


@dataclass(frozen=True)
class StackPorts:
    """The loopback ports of one pair: gateway HTTP, order-api gRPC, order-api /metrics."""

    gateway: int
    grpc: int
    metrics: int
    # Replicas dialled through a DNS name listen on their own loopback address, same port.
    grpc_host: str = field(default="127.0.0.1", kw_only=True)

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
        return f"{self.grpc_host}:{self.grpc}"

    @property
    def order_api_metrics_url(self) -> str:
        """The order-api's /metrics."""
        return f"http://127.0.0.1:{self.metrics}/metrics"


def order_api_spec(
    log_path: Path,
    environ: Mapping[str, str],
    *,
    listen: str,
    db: str,
    metrics: tuple[str, int] | None = None,
    launcher: bool = False,
    faults: Sequence[str] = (),
    name: str = ORDER_API,
    worker_processes: int = 1,
) -> ServiceSpec:
    """How to run one order-api on top of `environ`: ready once gRPC health says SERVING.

    `listen` is its ORDER_API_LISTEN (HOST:PORT), `db` its ORDER_API_DB, `metrics`
    where its `/metrics` listens (OTEL_EXPORTER_PROMETHEUS_HOST/PORT; unset: the
    variables of `environ`, else the default), `faults` its ORDER_API_FAULTS specs,
    `worker_processes` its ORDER_API_PROCESSES unless `environ` sets it (ready then
    also waits for every worker to serve).
    """
    env = {**environ, "ORDER_API_LISTEN": listen, "ORDER_API_DB": db}
    env.setdefault(ORDER_API_PROCESSES, str(worker_processes))
    if metrics is not None:
        host, port = metrics
        env.update(OTEL_EXPORTER_PROMETHEUS_HOST=host, OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    if faults:
        env["ORDER_API_FAULTS"] = ",".join(faults)
    ready, ready_description = _order_api_readiness(listen, env)
    return ServiceSpec(
        name=name,
        command=_command(MODULES[ORDER_API], launcher),
        env=env,
        log_path=log_path,
        ready=lambda: workers_serving(log_path, env[ORDER_API_PROCESSES]) and ready(),
        ready_description=ready_description,
    )


def gateway_spec(
    log_path: Path,
    environ: Mapping[str, str],
    *,
    listen: str,
    order_api_target: str,
    launcher: bool = False,
    name: str = GATEWAY,
    worker_processes: int = 1,
) -> ServiceSpec:
    """How to run one web-gateway on top of `environ`: ready once `GET /readyz` answers 200.

    `listen` is its GATEWAY_LISTEN (HOST:PORT), `order_api_target` its ORDER_API_TARGET,
    `worker_processes` its GATEWAY_PROCESSES unless `environ` sets it (ready then also
    waits for every worker to serve).
    """
    readyz = f"http://{listen}/readyz"
    env = {**environ, "GATEWAY_LISTEN": listen, "ORDER_API_TARGET": order_api_target}
    env.setdefault(GATEWAY_PROCESSES, str(worker_processes))
    return ServiceSpec(
        name=name,
        command=_command(MODULES[GATEWAY], launcher),
        env=env,
        log_path=log_path,
        ready=lambda: workers_serving(log_path, env[GATEWAY_PROCESSES]) and http_ok(readyz),
        ready_description=f"GET {readyz} answering 200",
    )


def service_specs(
    ports: StackPorts,
    data_dir: Path,
    environ: Mapping[str, str],
    *,
    launcher: bool = True,
    faults: Sequence[str] = (),
    db: str | None = None,
    order_api_target: str | None = None,
    worker_processes: int = 1,
) -> list[ServiceSpec]:
    """How to run the order-api and the web-gateway, in start order, on top of `environ`.

    `db` is the order-api's ORDER_API_DB (default: `orders.db` in `data_dir`);
    `order_api_target` the gateway's ORDER_API_TARGET (default: this order-api);
    `worker_processes` each service's worker processes (ORDER_API_PROCESSES,
    GATEWAY_PROCESSES: ready once every worker serves), unless `environ` sets them.
    """
    return [
        order_api_spec(
            data_dir / f"{ORDER_API}.log",
            environ,
            listen=ports.grpc_target,
            db=db or str(data_dir / "orders.db"),
            metrics=("127.0.0.1", ports.metrics),
            launcher=launcher,
            faults=faults,
            worker_processes=worker_processes,
        ),
        gateway_spec(
            data_dir / f"{GATEWAY}.log",
            environ,
            listen=f"127.0.0.1:{ports.gateway}",
            order_api_target=order_api_target or ports.grpc_target,
            launcher=launcher,
            worker_processes=worker_processes,
        ),
    ]


def workers_serving(log_path: Path, count: str) -> bool:
    """Whether a service run as several workers has logged that every one serves (or runs one)."""
    if not count.isdigit() or int(count) <= 1:
        return True
    try:
        return ALL_WORKERS_SERVING in log_path.read_text(errors="replace")
    except OSError:
        return False


def _command(module: str, launcher: bool) -> list[str]:
    return processes.launcher_command(module) if launcher else processes.module_command(module)


def _host_port(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def _order_api_readiness(
    listen: str, order_env: Mapping[str, str]
) -> tuple[Callable[[], bool], str]:
    """gRPC health SERVING, over TLS with the gateway's variables when the order-api serves TLS.

    A TLS order-api without a CA among the variables (a test of a plaintext
    gateway against it, say) is ready when its port accepts connections.
    """
    target = listen
    if not order_env.get("ORDER_API_TLS_CERT"):
        return lambda: grpc_serving(target), f"gRPC health SERVING on {target}"
    files = gateway_tls.files_from_env(order_env)
    if files is None:
        return lambda: listening(*_host_port(target)), f"{target} accepting connections"
    credentials = gateway_tls.channel_credentials(files).current()
    # As the gateway checks it: for ORDER_API_SERVER_NAME (a replica on 127.0.0.2 is not named).
    return (
        lambda: grpc_serving(target, credentials=credentials, server_name=files.server_name),
        f"gRPC health SERVING on {target} (TLS)",
    )


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
    data_dir: Path,
    *,
    launcher: bool = False,
    environ: Mapping[str, str] | None = None,
    worker_processes: int = 1,
    through: str | None = None,
) -> Iterator[Stack]:
    """Start order-api then web-gateway on free ports, each once ready; stop both on exit.

    `environ` adds to a test's environment (see `child_environ`); `launcher`
    runs both under `opentelemetry-instrument`; `worker_processes` runs each as that
    many workers (unless `environ` sets GATEWAY_PROCESSES/ORDER_API_PROCESSES);
    `through` runs each service's module through that module, given the service's
    as its argument (`-m bench.floor_services services.order_api`).
    Raises StartupError naming the service that did not come up.
    """
    ports = StackPorts.free()
    specs = service_specs(
        ports,
        data_dir,
        child_environ(environ or {}),
        launcher=launcher,
        worker_processes=worker_processes,
    )
    if through is not None:  # every command ends `-m <service module>`
        specs = [replace(s, command=[*s.command[:-1], through, s.command[-1]]) for s in specs]
    stack = Stack(ports, {})
    try:
        for spec in specs:
            timeout = STARTUP_TIMEOUT_SECONDS + STARTUP_SECONDS_PER_WORKER * (worker_processes - 1)
            stack.services[spec.name] = processes.start(spec, timeout=timeout)
        yield stack
    finally:
        processes.stop_all(list(stack.services.values()), grace=STOP_GRACE_SECONDS)
