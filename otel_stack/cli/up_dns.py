"""How `otel-stack up`'s gateways find several order-apis: one DNS name, or a fixed list.

`with_replica_dns` chooses: one name answered by a local dnsmasq with every
replica's loopback address (as a headless Service does on Kubernetes), or,
where this machine cannot, a fixed `ipv4:` list; `dns_spec` is that dnsmasq.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from otel_stack.harness import local_dns
from otel_stack.harness.processes import ServiceSpec

if TYPE_CHECKING:
    from otel_stack.cli.up_plan import UpOptions

# The name the gateways dial for the order-api replicas (`.test` is reserved: RFC 6761).
ORDER_API_DNS_NAME = "order-api.otel-stack.test"


@dataclass(frozen=True)
class ReplicaDns:
    """The local dnsmasq answering ORDER_API_DNS_NAME with every order-api replica's address."""

    binary: str
    port: int

    @property
    def listen(self) -> tuple[str, int]:
        """Where dnsmasq answers (UDP)."""
        return ("127.0.0.1", self.port)

    def target(self, grpc_port: int) -> str:
        """The gateways' ORDER_API_TARGET: the name, asked of this server (the URI's authority)."""
        return f"dns://127.0.0.1:{self.port}/{ORDER_API_DNS_NAME}:{grpc_port}"


def with_replica_dns(options: UpOptions) -> tuple[UpOptions, str | None]:
    """`options` with a DNS name for several order-apis where this machine allows it.

    Otherwise `options` unchanged (a fixed `ipv4:` list) and one line saying why.
    """
    if options.replicas == 1:
        return options, None
    binary = local_dns.find_binary()
    if binary is None:
        return options, (
            f"dnsmasq not found ({local_dns.INSTALL_HINT}): the gateways dial the order-apis "
            "as a fixed ipv4: list instead of one DNS name"
        )
    last = f"127.0.0.{options.replicas}"
    if not local_dns.can_bind(last):
        return options, (
            f"cannot listen on {last} (loopback is 127.0.0.1 only here): the gateways dial "
            "the order-apis as a fixed ipv4: list instead of one DNS name"
        )
    return dataclasses.replace(options, replica_dns=ReplicaDns(binary, local_dns.free_port())), None


def dns_spec(options: UpOptions, data_dir: Path) -> ServiceSpec | None:
    """The dnsmasq answering the order-api replicas' name, when the gateways dial one."""
    dns = options.replica_dns
    if dns is None:
        return None
    argv = local_dns.command(
        dns.binary,
        dns.listen,
        ORDER_API_DNS_NAME,
        addresses=[ports.grpc_host for ports in options.replica_ports],
    )
    return local_dns.spec(argv, dns.listen, ORDER_API_DNS_NAME, data_dir / "dnsmasq.log")
