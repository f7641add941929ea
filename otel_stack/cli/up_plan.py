"""What `otel-stack up` will run: its options, the ports and URLs they give, the child specs.

`UpOptions` does the arithmetic (replica ports, scrape targets, the URLs the live
view reads); `service_specs` turns it into the services' `ServiceSpec`s, with
the environment every child gets (and the collector's, with --otlp).
How gateways find several order-apis is `up_dns`'s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from otel_stack import default_ports
from otel_stack.cli.up_dns import ReplicaDns
from otel_stack.deploy import prometheus_config
from otel_stack.harness import (
    local_collector,
    otlp_prometheus,
    running,
)
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.local_collector import CollectorPorts
from otel_stack.harness.processes import ServiceSpec
from otel_stack.harness.running import StackPorts
from otel_stack.harness.stack_tls import StackTls
from services.order_api.store import is_postgres_url

LOAD_CONCURRENCY = 4
# Each replica is two more processes on this machine.
MAX_REPLICAS = 8
# Where the local collector forwards traces unless OTELCOL_TRACES_ENDPOINT says otherwise:
# the OTLP/gRPC port of a trace backend you run yourself (nothing else listens there).
LOCAL_TRACES_ENDPOINT = "127.0.0.1:14317"
# Pushed at the live view's pace rather than the SDK's 60 s default.
LOCAL_EXPORT_INTERVAL_MS = "2000"


@dataclass(frozen=True)
class UpOptions:
    """The `up` command's settings."""

    gateway_port: int = default_ports.GATEWAY
    grpc_port: int = default_ports.GRPC
    metrics_port: int = default_ports.METRICS
    prometheus_port: int = default_ports.PROMETHEUS
    alertmanager_port: int = default_ports.ALERTMANAGER
    alert_sink_port: int = default_ports.ALERT_SINK
    data_dir: Path = Path("var/stack")
    duration: float | None = None
    rate: float = 20.0
    inject: tuple[str, ...] = ()
    traffic: bool = True
    prometheus: bool = True
    alertmanager: bool = True
    otlp: bool = False
    # Push metrics straight into Prometheus' OTLP receiver (the third metrics path).
    otlp_prometheus: bool = False
    # The collector of `--otlp`, on 127.0.0.1: its standard ports unless OTELCOL_* say otherwise.
    collector_ports: CollectorPorts = field(default_factory=local_collector.ports_from_environ)
    refresh: float = 2.0
    startup_timeout: float = 20.0
    grace: float = 15.0
    replicas: int = 1
    # Worker processes of each service instance (GATEWAY_PROCESSES, ORDER_API_PROCESSES).
    processes: int = 1
    # ORDER_API_DB for every order-api; None: a SQLite file in the data directory.
    db: str | None = None
    # Every hop over TLS, with a throwaway CA under <data_dir>/tls (otel_stack.harness.stack_tls).
    tls: bool = False
    # With replicas: the DNS name the gateways dial (None: a fixed `ipv4:` list of addresses).
    replica_dns: ReplicaDns | None = None

    @property
    def ports(self) -> StackPorts:
        """The services' ports."""
        return StackPorts(self.gateway_port, self.grpc_port, self.metrics_port)

    @property
    def gateway_url(self) -> str:
        """Base URL of the (first) web-gateway."""
        return self.ports.gateway_url

    @property
    def replica_ports(self) -> list[StackPorts]:
        """Each replica's ports: the next port after its service's base port per replica.

        Behind a DNS name (an address has no port) every order-api takes the same
        gRPC port on its own loopback address instead: 127.0.0.1, 127.0.0.2, …
        """
        if self.replica_dns is not None:
            return [
                StackPorts(
                    self.gateway_port + i,
                    self.grpc_port,
                    self.metrics_port + i,
                    grpc_host=f"127.0.0.{i + 1}",
                )
                for i in range(self.replicas)
            ]
        return [
            StackPorts(self.gateway_port + i, self.grpc_port + i, self.metrics_port + i)
            for i in range(self.replicas)
        ]

    @property
    def gateway_urls(self) -> list[str]:
        """Base URL of every web-gateway."""
        return [ports.gateway_url for ports in self.replica_ports]

    @property
    def grpc_targets(self) -> list[str]:
        """The gRPC address of every order-api."""
        return [ports.grpc_target for ports in self.replica_ports]

    @property
    def gateway_metrics_url(self) -> str:
        """The (first) web-gateway's /metrics."""
        return f"{self.gateway_url}/metrics"

    @property
    def order_api_metrics_url(self) -> str:
        """The (first) order-api's /metrics."""
        return self.ports.order_api_metrics_url

    def service_targets(self) -> dict[str, list[str]]:
        """Every service instance's metrics address (host:port) by Prometheus job."""
        return {
            prometheus_config.GATEWAY_JOB: [
                url.removeprefix("http://") for url in self.gateway_urls
            ],
            prometheus_config.ORDER_API_JOB: [
                f"127.0.0.1:{ports.metrics}" for ports in self.replica_ports
            ],
        }

    def metrics_urls(self, job: str) -> list[str]:
        """The /metrics URL of every instance of `job` (the order-api's are https with --tls)."""
        scheme = "https" if self.tls and job == prometheus_config.ORDER_API_JOB else "http"
        return [f"{scheme}://{address}/metrics" for address in self.service_targets()[job]]

    @property
    def collector_metrics_url(self) -> str:
        """The collector's `prometheus` exporter: both services' metrics with --otlp."""
        return f"http://{self.collector_ports.prometheus_target}/metrics"

    @property
    def live_urls(self) -> tuple[str, str]:
        """Where the live view reads the gateway's and the order-api's metrics."""
        if self.otlp:
            return self.collector_metrics_url, self.collector_metrics_url
        return self.gateway_metrics_url, self.order_api_metrics_url

    @property
    def pushes(self) -> bool:
        """Whether the services push their metrics (--otlp, --otlp-prometheus)."""
        return self.otlp or self.otlp_prometheus

    def scrape_targets(self) -> dict[str, list[str]]:
        """What the local Prometheus scrapes: the services, the collector with --otlp, or
        only itself with --otlp-prometheus."""
        if self.otlp_prometheus:
            return prometheus_config.otlp_targets(self.prometheus_url.removeprefix("http://"))
        if self.otlp:
            ports = self.collector_ports
            return prometheus_config.collector_targets(
                ports.prometheus_target, ports.telemetry_target
            )
        return self.service_targets()

    @property
    def prometheus_url(self) -> str:
        """The local Prometheus' web UI."""
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        """The local Alertmanager's web UI and API."""
        return f"http://127.0.0.1:{self.alertmanager_port}"


class ReplicasError(ValueError):
    """Replicas asked for on a database that cannot be shared."""


def check_replicas(replicas: int, db: str | None) -> None:
    """Refuse N > 1 replicas without a PostgreSQL database, in one line."""
    if replicas > 1 and (db is None or not is_postgres_url(db)):
        raise ReplicasError(
            f"--replicas {replicas} needs --db postgresql://…: replicas share one database,"
            " and a SQLite file belongs to one process"
        )


def service_specs(
    options: UpOptions, data_dir: Path, tls: StackTls | None = None
) -> list[ServiceSpec]:
    """How to run every order-api and then every web-gateway under the launcher, in start order.

    With `tls`, every hop of theirs is TLS with its files.
    """
    base = child_environ(user_settings=True)
    if options.otlp:
        base = _otlp_environ(base, options.collector_ports)
    if options.otlp_prometheus:
        base = otlp_prometheus.service_environ(base, options.prometheus_url)
    if tls is None:
        return _specs_on(options, data_dir, base)
    specs = _specs_on(options, data_dir, tls.services_environ(base))
    return [tls.with_own_otlp_identity(spec) for spec in specs]


def _specs_on(options: UpOptions, data_dir: Path, base: dict[str, str]) -> list[ServiceSpec]:
    """Every order-api and then every web-gateway on top of the environment `base`."""
    if options.replicas == 1:
        return running.service_specs(
            options.ports,
            data_dir,
            base,
            launcher=True,
            faults=options.inject,
            db=options.db,
            worker_processes=options.processes,
        )
    order_api_target = (
        options.replica_dns.target(options.grpc_port)
        if options.replica_dns is not None
        else "ipv4:" + ",".join(options.grpc_targets)
    )
    if options.replica_dns is not None:
        # Only gRPC's c-ares resolver asks the server the target names; the native one ignores it.
        base = {**base, "GRPC_DNS_RESOLVER": "ares"}
    order_apis, gateways = [], []
    for index, ports in enumerate(options.replica_ports):
        order_api, gateway = running.service_specs(
            ports,
            data_dir,
            base,
            launcher=True,
            faults=options.inject,
            db=options.db,
            order_api_target=order_api_target,
            worker_processes=options.processes,
        )
        order_apis.append(_replica(order_api, index))
        gateways.append(_replica(gateway, index))
    return [*order_apis, *gateways]


def _replica(spec: ServiceSpec, index: int) -> ServiceSpec:
    """`spec` as replica `index`: named `<service>-<index + 1>`, with that service.instance.id."""
    name = f"{spec.name}-{index + 1}"
    existing = spec.env.get("OTEL_RESOURCE_ATTRIBUTES", "").strip().strip(",")
    instance = f"service.instance.id={name}"
    return dataclasses.replace(
        spec,
        name=name,
        env={
            **spec.env,
            "OTEL_RESOURCE_ATTRIBUTES": f"{existing},{instance}" if existing else instance,
        },
        log_path=spec.log_path.with_name(f"{name}.log"),
    )


def _otlp_environ(environ: dict[str, str], ports: CollectorPorts) -> dict[str, str]:
    """`environ` set up to push metrics and traces to the local collector over OTLP/gRPC."""
    return {
        **environ,
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRIC_EXPORT_INTERVAL": environ.get(
            "OTEL_METRIC_EXPORT_INTERVAL", LOCAL_EXPORT_INTERVAL_MS
        ),
    }
