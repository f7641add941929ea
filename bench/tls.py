"""Suite 12: what TLS costs on the gateway → order-api hop, per call and per handshake.

Three order-api processes (telemetry off) serve the same database: plaintext,
TLS, and mTLS (client certificate required), with certificates made for the
run. This process plays the gateway: GetOrder calls through a channel kept
open (what the gateway does) and through a new channel per call (a handshake
each time). Each round runs every variant in turn; per call it records this
process's CPU (the client's side) and the CPU of the order-api that answered
(its process's CPU times), and the ratios to plaintext come from the same rounds.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psutil

from bench.measure import CPU
from otel_stack.harness import processes, stack_tls
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import Service
from otel_stack.harness.running import (
    ORDER_API,
    STARTUP_TIMEOUT_SECONDS,
    StackPorts,
    service_specs,
)
from otel_stack.harness.stack_tls import StackTls
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc

SERVERS = ("plaintext", "tls", "mtls")


@dataclass(frozen=True)
class _Server:
    target: str
    credentials: grpc.ChannelCredentials | None
    process: psutil.Process

    def channel(self) -> grpc.Channel:
        if self.credentials is None:
            return grpc.insecure_channel(self.target)
        return grpc.secure_channel(self.target, self.credentials)

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)


def run(quick: bool) -> dict[str, Any]:
    """Client and server CPU per call for each variant, and the ratios to plaintext."""
    with tempfile.TemporaryDirectory() as scratch, _servers(Path(scratch)) as servers:
        order_id = _create_order(servers["plaintext"])
        request = orders_pb2.GetOrderRequest(id=order_id)
        reused = {name: server.channel() for name, server in servers.items()}
        try:
            variants = {f"{name}_reused": _on(reused[name], request) for name in SERVERS} | {
                f"{name}_new_connection": _new_channel_each_call(servers[name], request)
                for name in ("plaintext", "mtls")
            }
            server_of = {variant: servers[variant.split("_")[0]] for variant in variants}
            reuse_calls = 300 if quick else 1000
            calls = {
                name: reuse_calls if name.endswith("_reused") else reuse_calls // 10
                for name in variants
            }
            samples = _interleaved(variants, server_of, calls, rounds=5 if quick else 15)
        finally:
            for channel in reused.values():
                channel.close()
    return _figures(samples)


@contextmanager
def _servers(directory: Path) -> Iterator[dict[str, _Server]]:
    tls = stack_tls.create(directory / "tls")
    environs = {
        "plaintext": {},
        "tls": tls.order_api_environ(client_auth=False),
        "mtls": tls.order_api_environ(client_auth=True),
    }
    started: list[Service] = []
    servers: dict[str, _Server] = {}
    try:
        for name, environ in environs.items():
            ports = StackPorts.free()
            specs = service_specs(
                ports,
                directory / name,
                child_environ(
                    {
                        "OTEL_SDK_DISABLED": "true",
                        "ACCESS_LOG": "off",
                        **environ,
                        **(tls.gateway_environ() if name == "mtls" else {}),
                        **({"ORDER_API_CA": str(tls.ca)} if name == "tls" else {}),
                    }
                ),
                launcher=False,
                db=str(directory / "orders.db"),
            )
            (directory / name).mkdir(parents=True, exist_ok=True)
            spec = next(spec for spec in specs if spec.name == ORDER_API)
            service = processes.start(spec, timeout=STARTUP_TIMEOUT_SECONDS)
            started.append(service)
            servers[name] = _Server(
                f"localhost:{ports.grpc}",
                _credentials(tls, name),
                psutil.Process(service.pid),
            )
        yield servers
    finally:
        processes.stop_all(started)


def _credentials(tls: StackTls, name: str) -> grpc.ChannelCredentials | None:
    if name == "plaintext":
        return None
    ca = tls.ca.read_bytes()
    if name == "tls":
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=tls.web_gateway.key.read_bytes(),
        certificate_chain=tls.web_gateway.cert.read_bytes(),
    )


def _create_order(server: _Server) -> str:
    with server.channel() as channel:
        item = orders_pb2.OrderItem(sku="sku-1", quantity=1, unit_price_cents=100)
        created = orders_pb2_grpc.OrderServiceStub(channel).CreateOrder(
            orders_pb2.CreateOrderRequest(customer_id="c1", items=[item]), timeout=10
        )
    return str(created.order.id)


def _on(channel: grpc.Channel, request: orders_pb2.GetOrderRequest) -> Callable[[], object]:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    return lambda: stub.GetOrder(request, timeout=10)


def _new_channel_each_call(
    server: _Server, request: orders_pb2.GetOrderRequest
) -> Callable[[], object]:
    def call() -> object:
        with server.channel() as channel:
            return orders_pb2_grpc.OrderServiceStub(channel).GetOrder(request, timeout=10)

    return call


def _interleaved(
    variants: dict[str, Callable[[], object]],
    server_of: dict[str, _Server],
    calls: dict[str, int],
    rounds: int,
) -> dict[str, dict[str, list[float]]]:
    """µs of client and of server CPU per call, per round, the variants taking turns."""
    for fn in variants.values():
        for _ in range(20):
            fn()
    samples: dict[str, dict[str, list[float]]] = {
        name: {"client": [], "server": []} for name in variants
    }
    names = list(variants)
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            fn, server = variants[name], server_of[name]
            client_started, server_started = CPU(), server.cpu()
            for _ in range(calls[name]):
                fn()
            samples[name]["client"].append((CPU() - client_started) / calls[name] * 1e6)
            samples[name]["server"].append((server.cpu() - server_started) / calls[name] * 1e6)
    return samples


def _paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def _paired_difference(minuend: list[float], subtrahend: list[float]) -> float:
    return statistics.median(a - b for a, b in zip(minuend, subtrahend, strict=True))


def _figures(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    def both(name: str) -> list[float]:
        return [
            client + server
            for client, server in zip(samples[name]["client"], samples[name]["server"], strict=True)
        ]

    figures: dict[str, Any] = {
        name: {side: statistics.median(values) for side, values in sides.items()}
        for name, sides in samples.items()
    }
    for variant in ("tls_reused", "mtls_reused"):
        figures[f"{variant}_ratio"] = _paired_ratio(both(variant), both("plaintext_reused"))
        figures[f"{variant}_extra_us"] = _paired_difference(both(variant), both("plaintext_reused"))
    figures["mtls_handshake_us"] = _paired_difference(
        both("mtls_new_connection"), both("mtls_reused")
    )
    figures["plaintext_connection_us"] = _paired_difference(
        both("plaintext_new_connection"), both("plaintext_reused")
    )
    figures["mtls_new_connection_ratio"] = _paired_ratio(
        both("mtls_new_connection"), both("plaintext_new_connection")
    )
    return figures
