"""Four hosts in network namespaces: host-a and host-b run a gateway and an order-api each,
host-c runs PostgreSQL and Prometheus, and the test's own traffic comes from a client host.

Processes are started with the CLI's harness (`otel_stack.harness.processes`) through
`ip netns exec`; readiness is probed from inside the hosts. Prometheus
discovers the four targets through file_sd (`instance` = address:port) and
evaluates the repository's rules, with TargetDown's `for` shortened so a test
sees it fire (its 2-minute `for` is covered by the promtool unit tests).
"""

from __future__ import annotations

import dataclasses
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from otel_stack.deploy import prometheus_config
from otel_stack.harness import local_prometheus, processes, running
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.local_postgres import PostgresServer, running_postgres
from otel_stack.harness.processes import Service, ServiceSpec
from otel_stack.harness.readiness import http_ok
from tests.scale.netns import Host, network
from tests.support.prometheus import Prometheus
from tests.support.tools import require_tool

GRPC_PORT = 50051
METRICS_PORT = 8000
GATEWAY_PORT = 8080
PROMETHEUS_PORT = 9090
TARGET_DOWN_FOR = "3s"
APP_HOSTS = ("a", "b")


@dataclass
class Cluster:
    """The running hosts and what runs on them."""

    hosts: dict[str, Host]
    postgres: PostgresServer
    database_url: str
    prometheus: Prometheus
    log_dir: Path
    services: dict[str, list[Service]] = field(default_factory=dict)

    def gateway_url(self, host: str) -> str:
        """The gateway on `host` ("a" or "b")."""
        return f"http://{self.hosts[host].address}:{GATEWAY_PORT}"

    def instances(self, host: str) -> set[tuple[str, str]]:
        """(job, instance) of the two targets on `host`."""
        address = self.hosts[host].address
        return {
            (prometheus_config.GATEWAY_JOB, f"{address}:{GATEWAY_PORT}"),
            (prometheus_config.ORDER_API_JOB, f"{address}:{METRICS_PORT}"),
        }

    def query(self, expr: str) -> list[dict[str, object]]:
        """An instant query, sent from host-c (Prometheus listens on its loopback)."""
        return self.hosts["c"].call(lambda: self.prometheus.query(expr))

    def start_app(self, name: str) -> None:
        """Start the order-api, then the gateway, on host `name`."""
        self.services[name] = _start_app(self.hosts[name], self.database_url, self.log_dir)

    def kill_app(self, name: str) -> None:
        """SIGKILL the processes on host `name`."""
        for service in self.services.pop(name, []):
            service.signal(signal.SIGKILL)
            service.process.wait(timeout=10)


def in_host(host: Host, spec: ServiceSpec) -> ServiceSpec:
    """The spec run inside `host`, probed from inside it."""
    ready = spec.ready
    return dataclasses.replace(
        spec, command=host.command(spec.command), ready=lambda: host.call(ready, timeout=10)
    )


def _start_app(host: Host, database_url: str, log_dir: Path) -> list[Service]:
    address = host.address
    order_api = running.order_api_spec(
        log_dir / f"order-api-{host.name}.log",
        child_environ(
            {
                "ORDER_API_DB_CONNECT_TIMEOUT": "2",
                "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id=order-api@{host.name}",
            }
        ),
        listen=f"{address}:{GRPC_PORT}",
        db=database_url,
        metrics=(address, METRICS_PORT),
        name=f"order-api-{host.name}",
    )
    # Probed over plain HTTP: gRPC's own threads would not run inside the host's namespace.
    metrics_url = f"http://{address}:{METRICS_PORT}/metrics"
    specs = [
        dataclasses.replace(
            order_api, ready=lambda: http_ok(metrics_url), ready_description=f"GET {metrics_url}"
        ),
        running.gateway_spec(
            log_dir / f"web-gateway-{host.name}.log",
            child_environ(
                {"OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id=web-gateway@{host.name}"}
            ),
            listen=f"{address}:{GATEWAY_PORT}",
            order_api_target=f"{address}:{GRPC_PORT}",
            name=f"web-gateway-{host.name}",
        ),
    ]
    started: list[Service] = []
    try:
        for spec in specs:
            started.append(processes.start(in_host(host, spec), timeout=60))
    except BaseException:
        processes.stop_all(started, grace=5)
        raise
    return started


def _rules_with_short_target_down(directory: Path) -> list[str]:
    """The repository's rule files, TargetDown's `for` shortened to TARGET_DOWN_FOR."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in local_prometheus.rule_files():
        text = Path(source).read_text()
        if "alert: TargetDown" in text:
            text = re.sub(
                r"(alert: TargetDown\n\s+expr: .*\n\s+for: )2m", rf"\g<1>{TARGET_DOWN_FOR}", text
            )
            assert f"for: {TARGET_DOWN_FOR}" in text
        target = directory / Path(source).name
        target.write_text(text)
        paths.append(str(target))
    return paths


@contextmanager
def running_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The four hosts with everything started; all of it stopped and removed afterwards."""
    binary = require_tool("prometheus")
    require_tool("postgres")
    with ExitStack() as stack:
        hosts = stack.enter_context(network(["client", "a", "b", "c"]))
        c = hosts["c"]
        postgres = stack.enter_context(
            running_postgres(host=c.address, wrap_command=c.command, run_client=c.call)
        )
        database_url = postgres.create_database()
        data_dir = tmp_path / "prometheus"
        data_dir.mkdir()
        targets = {
            prometheus_config.GATEWAY_JOB: [
                f"{hosts[h].address}:{GATEWAY_PORT}" for h in APP_HOSTS
            ],
            prometheus_config.ORDER_API_JOB: [
                f"{hosts[h].address}:{METRICS_PORT}" for h in APP_HOSTS
            ],
        }
        local_prometheus.write_targets(data_dir, targets)
        config_path = data_dir / "prometheus.yml"
        config_path.write_text(
            prometheus_config.render(
                targets,
                scrape_interval="1s",
                rule_files=_rules_with_short_target_down(data_dir / "rules"),
                file_sd_dir=local_prometheus.targets_dir(data_dir),
            )
        )
        spec = local_prometheus.spec(
            binary, data_dir, port=PROMETHEUS_PORT, config_path=config_path
        )
        prometheus_service = processes.start(in_host(c, spec), timeout=60)
        stack.callback(lambda: processes.stop_all([prometheus_service], grace=10))
        cluster = Cluster(
            hosts=hosts,
            postgres=postgres,
            database_url=database_url,
            prometheus=Prometheus(
                f"http://127.0.0.1:{PROMETHEUS_PORT}", prometheus_service.process, spec.log_path
            ),
            log_dir=tmp_path,
        )
        stack.callback(
            lambda: processes.stop_all(
                [s for services in cluster.services.values() for s in services], grace=10
            )
        )
        for name in APP_HOSTS:
            cluster.start_app(name)
        yield cluster
