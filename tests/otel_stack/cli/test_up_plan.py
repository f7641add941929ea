"""up_plan: how `up --replicas N` lets the gateways find the order-apis (a DNS name or a list)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_stack.cli import up_dns, up_plan
from otel_stack.cli.up_dns import ORDER_API_DNS_NAME, ReplicaDns
from otel_stack.cli.up_plan import UpOptions
from otel_stack.harness import local_dns
from services.web_gateway.config import Config as GatewayConfig

DB = "postgresql://orders@127.0.0.1:5432/orders"


def _options(replicas: int, dns: ReplicaDns | None = None) -> UpOptions:
    return UpOptions(replicas=replicas, db=DB, grpc_port=50051, replica_dns=dns)


def _env(options: UpOptions, tmp_path: Path, name: str, variable: str) -> str:
    spec = next(s for s in up_plan.service_specs(options, tmp_path) if s.name == name)
    return spec.env[variable]


def test_replicas_behind_a_name_share_the_grpc_port_on_their_own_loopback_address(
    tmp_path: Path,
) -> None:
    options = _options(3, ReplicaDns("/usr/sbin/dnsmasq", 5300))

    listens = [_env(options, tmp_path, f"order-api-{i}", "ORDER_API_LISTEN") for i in (1, 2, 3)]

    assert listens == ["127.0.0.1:50051", "127.0.0.2:50051", "127.0.0.3:50051"]


def test_every_gateway_dials_the_name_on_the_local_dns_server(tmp_path: Path) -> None:
    options = _options(2, ReplicaDns("/usr/sbin/dnsmasq", 5300))
    target = f"dns://127.0.0.1:5300/{ORDER_API_DNS_NAME}:50051"

    for name in ("web-gateway-1", "web-gateway-2"):
        env = {
            "ORDER_API_TARGET": _env(options, tmp_path, name, "ORDER_API_TARGET"),
            "GRPC_DNS_RESOLVER": _env(options, tmp_path, name, "GRPC_DNS_RESOLVER"),
        }
        # The gateway's own parser accepts it; only c-ares asks the named server.
        assert GatewayConfig.from_env(env).order_api_target == target
        assert env["GRPC_DNS_RESOLVER"] == "ares"


def test_the_dns_server_answers_the_name_with_every_replica_address(tmp_path: Path) -> None:
    options = _options(3, ReplicaDns("/usr/sbin/dnsmasq", 5300))

    spec = up_dns.dns_spec(options, tmp_path)

    assert spec is not None
    records = [arg for arg in spec.command if arg.startswith("--host-record=")]
    assert records == [f"--host-record={ORDER_API_DNS_NAME},127.0.0.{i}" for i in (1, 2, 3)]
    assert "--listen-address=127.0.0.1" in spec.command and "--port=5300" in spec.command


def test_without_dns_the_gateways_dial_a_fixed_list_on_consecutive_ports(tmp_path: Path) -> None:
    options = _options(2)

    assert up_dns.dns_spec(options, tmp_path) is None
    assert (
        _env(options, tmp_path, "web-gateway-1", "ORDER_API_TARGET")
        == "ipv4:127.0.0.1:50051,127.0.0.1:50052"
    )


def test_one_replica_needs_no_name() -> None:
    assert up_dns.with_replica_dns(UpOptions()) == (UpOptions(), None)


def test_without_dnsmasq_the_list_stays_and_one_line_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_dns, "find_binary", lambda: None)

    options, why = up_dns.with_replica_dns(_options(2))

    assert options.replica_dns is None
    assert why is not None and "dnsmasq not found" in why and "\n" not in why


def test_without_a_second_loopback_address_the_list_stays_and_one_line_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_dns, "find_binary", lambda: "/usr/sbin/dnsmasq")
    monkeypatch.setattr(local_dns, "can_bind", lambda host: host == "127.0.0.1")

    options, why = up_dns.with_replica_dns(_options(2))

    assert options.replica_dns is None
    assert why is not None and "cannot listen on 127.0.0.2" in why


def test_with_dnsmasq_and_loopback_addresses_the_name_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_dns, "find_binary", lambda: "/usr/sbin/dnsmasq")
    monkeypatch.setattr(local_dns, "can_bind", lambda host: True)

    options, why = up_dns.with_replica_dns(_options(4))

    assert why is None
    assert options.replica_dns is not None and options.replica_dns.binary == "/usr/sbin/dnsmasq"
