"""Order-api replicas found through a real DNS server, in network namespaces.

Host `dns` runs dnsmasq on port 53, answering one name with the addresses in a
hosts file that the test rewrites (then SIGHUP); host `gw` runs a web-gateway
dialling `dns:///` that name, with that server in the host's own resolv.conf
(`/etc/netns/<namespace>/resolv.conf`, which `ip netns exec` mounts over
`/etc/resolv.conf`), as a pod's resolv.conf names the cluster DNS; hosts `r1` …
run one order-api each on the same gRPC port, with a short
ORDER_API_MAX_CONNECTION_AGE so the gateway re-resolves often. Each replica
counts the calls it served in its own `/metrics` (`grpc_requests_total`).
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from otel_stack.harness import local_dns, processes, running
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import Service
from otel_stack.harness.readiness import http_ok
from tests.scale.cluster import in_host
from tests.scale.netns import Host, network
from tests.support.tools import require_tool

NAME = "order-api.scale.test"
GRPC_PORT = 50051
METRICS_PORT = 8000
GATEWAY_PORT = 8080
DNS_PORT = 53
NETNS_ETC = Path("/etc/netns")


@dataclass
class DnsCluster:
    """The hosts, the DNS server and its hosts file, and the services running."""

    hosts: dict[str, Host]
    dns: Service
    hosts_file: Path
    log_dir: Path
    connection_age: float
    replicas: dict[str, Service] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        """The gateway on host `gw`."""
        return f"http://{self.hosts['gw'].address}:{GATEWAY_PORT}"

    def publish(self, replicas: Sequence[str]) -> None:
        """Make the name resolve to exactly these replica hosts' addresses (hosts file, SIGHUP)."""
        addresses = [self.hosts[name].address for name in replicas]
        local_dns.write_hosts(self.hosts_file, NAME, addresses)
        self.dns.signal(signal.SIGHUP)

    def resolve(self) -> list[str]:
        """What the DNS server answers for the name now, asked from host `gw`."""
        server = (self.hosts["dns"].address, DNS_PORT)
        return self.hosts["gw"].call(lambda: local_dns.resolve(NAME, server))

    def start_replica(self, name: str) -> None:
        """Start an order-api on host `name` (not yet published in DNS)."""
        host = self.hosts[name]
        address = host.address
        spec = running.order_api_spec(
            self.log_dir / f"order-api-{name}.log",
            child_environ(
                {
                    "ORDER_API_MAX_CONNECTION_AGE": f"{self.connection_age:g}",
                    "ORDER_API_MAX_CONNECTION_AGE_GRACE": "1",
                    "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id=order-api@{name}",
                }
            ),
            listen=f"{address}:{GRPC_PORT}",
            db=":memory:",
            metrics=(address, METRICS_PORT),
            name=f"order-api-{name}",
        )
        metrics_url = f"http://{address}:{METRICS_PORT}/metrics"
        spec = dataclasses.replace(
            spec, ready=lambda: http_ok(metrics_url), ready_description=f"GET {metrics_url}"
        )
        self.replicas[name] = processes.start(in_host(host, spec), timeout=60)

    def stop_replica(self, name: str) -> int:
        """SIGTERM the order-api on host `name` (its drain) and return its exit code."""
        return self.replicas.pop(name).stop(grace=30)

    def served(self, name: str) -> int:
        """The calls the order-api on host `name` has served (its `grpc_requests_total`)."""
        url = f"http://{self.hosts[name].address}:{METRICS_PORT}/metrics"

        def scrape() -> str:
            with urllib.request.urlopen(url, timeout=10) as response:
                return str(response.read().decode())

        text = self.hosts["gw"].call(scrape)
        return round(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "grpc_requests_total"
                and sample.labels.get("method") in ("ListOrders", "CreateOrder")
            )
        )


def _gateway(host: Host, log_dir: Path) -> Service:
    spec = running.gateway_spec(
        log_dir / "web-gateway.log",
        child_environ(),
        listen=f"{host.address}:{GATEWAY_PORT}",
        order_api_target=f"dns:///{NAME}:{GRPC_PORT}",
    )
    return processes.start(in_host(host, spec), timeout=60)


@contextmanager
def _resolv_conf(host: Host, nameserver: str) -> Iterator[None]:
    """Give `host` its own resolv.conf naming `nameserver`; removed afterwards."""
    directory = NETNS_ETC / host.namespace
    directory.mkdir(parents=True)
    try:
        (directory / "resolv.conf").write_text(f"nameserver {nameserver}\n")
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def dns_cluster(
    tmp_path: Path, replicas: int, spare: int, connection_age: float
) -> Iterator[DnsCluster]:
    """`replicas` order-apis published under NAME and `spare` empty hosts for more; cleaned up."""
    binary = require_tool("dnsmasq")
    names = [f"r{index + 1}" for index in range(replicas + spare)]
    with ExitStack() as stack:
        hosts = stack.enter_context(network(["dns", "gw", *names]))
        dns_host = hosts["dns"]
        hosts_file = tmp_path / "order-api.hosts"
        published = names[:replicas]
        local_dns.write_hosts(hosts_file, NAME, [hosts[name].address for name in published])
        listen = (dns_host.address, DNS_PORT)
        argv = local_dns.command(binary, listen, NAME, hosts_file=hosts_file)
        dns_spec = local_dns.spec(argv, listen, NAME, tmp_path / "dnsmasq.log")
        dns = processes.start(in_host(dns_host, dns_spec), timeout=30)
        stack.callback(lambda: processes.stop_all([dns], grace=5))
        cluster = DnsCluster(hosts, dns, hosts_file, tmp_path, connection_age)
        stack.callback(lambda: processes.stop_all(list(cluster.replicas.values()), grace=10))
        for name in published:
            cluster.start_replica(name)
        stack.enter_context(_resolv_conf(hosts["gw"], dns_host.address))
        gateway = _gateway(hosts["gw"], tmp_path)
        stack.callback(lambda: processes.stop_all([gateway], grace=10))
        yield cluster
