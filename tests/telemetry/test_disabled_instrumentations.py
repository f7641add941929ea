"""OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (launcher): what it names vanishes, the contract stays.

Both services run under `opentelemetry-instrument` with every span exported to
a local OTLP receiver; the services are stopped (which flushes their spans)
before the spans are read, so "no span" is a fact, not a timeout.
(`tests/otel/test_launcher_parity.py` shows both start paths wire the same.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.proto.trace.v1 import trace_pb2

from otel_stack.cli.verify import GATEWAY, ORDER_API, ServiceContract, check_exposition
from otel_stack.harness.http_call import call, create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.otlp_receiver import OtlpReceiver, running_receiver
from otel_stack.harness.running import running_stack
from otel_stack.harness.scrape import Exposition, scrape

CONTRACT = {
    "web-gateway": ["http_requests_total", "http_request_duration_seconds"],
    "order-api": ["grpc_requests_total", "grpc_request_duration_seconds", "orders_created_total"],
}
UPSTREAM_HTTP = ["http_server_request_duration_seconds", "http_server_active_requests"]
RUNTIME = ["process_cpu_time_seconds_total", "process_memory_usage_bytes"]


@contextmanager
def _traffic_under_launcher(
    tmp_path: Path, disabled: str
) -> Iterator[tuple[OtlpReceiver, dict[str, Exposition]]]:
    """Run both services, send one create and one read, scrape both; yield after they stop."""
    with running_receiver() as (receiver, port):
        environ = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
        }
        with running_stack(tmp_path, launcher=True, environ=environ) as stack:
            order_id = create_order(stack.gateway_url, EXAMPLE_ORDER)
            assert call("GET", f"{stack.gateway_url}/orders/{order_id}").status == 200
            scrapes = {
                "web-gateway": scrape(f"{stack.gateway_url}/metrics"),
                "order-api": scrape(stack.order_api_metrics_url),
            }
        yield receiver, scrapes


def _contract_failures(scrapes: dict[str, Exposition], disabled: frozenset[str]) -> list[str]:
    """What `otel-stack verify --disabled-instrumentations ...` would mark as failed."""
    contracts: dict[str, ServiceContract] = {"web-gateway": GATEWAY, "order-api": ORDER_API}
    return [
        f"{check.service}: {check.item} ({check.detail})"
        for service, contract in contracts.items()
        for check in check_exposition(contract.without(disabled), scrapes[service])
        if not check.ok
    ]


def _kinds(spans: list[trace_pb2.Span]) -> set[int]:
    return {span.kind for span in spans}


def test_lean_profile_keeps_the_contract_and_grpc_spans_without_flask(tmp_path: Path) -> None:
    with _traffic_under_launcher(tmp_path, "flask") as (receiver, scrapes):
        gateway_spans = receiver.spans("web-gateway")
        order_api_spans = receiver.spans("order-api")

    # The gateway's only spans are its gRPC client calls: no HTTP server span.
    assert _kinds(gateway_spans) == {trace_pb2.Span.SPAN_KIND_CLIENT}
    assert _kinds(order_api_spans) == {trace_pb2.Span.SPAN_KIND_SERVER}
    # Each client call carries its trace to the server (which also sees the harness's probes).
    assert {span.trace_id for span in gateway_spans} <= {s.trace_id for s in order_api_spans}
    for name in UPSTREAM_HTTP:
        assert scrapes["web-gateway"].family(name) is None, name
    for service, names in CONTRACT.items():
        assert scrapes[service].family(names[0]) is not None, (service, names[0])
    assert scrapes["web-gateway"].family("rpc_client_call_duration_seconds") is not None
    assert scrapes["order-api"].family(RUNTIME[0]) is not None
    assert _contract_failures(scrapes, frozenset({"flask"})) == []


def test_every_upstream_instrumentation_disabled_leaves_only_the_contract(
    tmp_path: Path,
) -> None:
    disabled = "flask,grpc_client,grpc_server,system_metrics"
    with _traffic_under_launcher(tmp_path, disabled) as (receiver, scrapes):
        pass

    assert receiver.spans("web-gateway") == []
    assert receiver.spans("order-api") == []
    for service, exposition in scrapes.items():
        for name in UPSTREAM_HTTP + RUNTIME:
            assert exposition.family(name) is None, (service, name)
        for name in CONTRACT[service]:
            assert exposition.family(name) is not None, (service, name)
    assert _contract_failures(scrapes, frozenset(disabled.split(","))) == []
