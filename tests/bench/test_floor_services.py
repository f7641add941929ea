"""Suite 3's floor pair, real processes under the launcher: it carries an unsampled trace across."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench import profiles
from bench.end_to_end import floor_stack, variant_environ
from bench.floor_services import install_floor, main
from otel import grpc_client, grpc_interceptors
from otel.grpc_tracing import TracingServerInterceptor
from otel_stack.harness.http_call import call, create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.running import GATEWAY, ORDER_API, free_port
from services.order_api.server import SERVICE_NAME


def _access_lines(log: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "access"]


def test_the_floor_carries_the_gateways_unsampled_trace_to_the_order_api(tmp_path: Path) -> None:
    # Traces exported with the always_off sampler: nothing reaches the (closed) endpoint.
    environ = variant_environ("traced_unsampled", f"http://127.0.0.1:{free_port()}")
    with floor_stack(tmp_path, environ) as stack:
        commands = {name: psutil.Process(s.pid).cmdline() for name, s in stack.processes.items()}
        for name, module in ((GATEWAY, "services.web_gateway"), (ORDER_API, "services.order_api")):
            assert commands[name][-3:] == ["-m", "bench.floor_services", module]
        order_id = create_order(stack.gateway_url, EXAMPLE_ORDER)
        assert call("GET", f"{stack.gateway_url}/orders/{order_id}").status == 200
    lines = _access_lines(stack.log(GATEWAY))
    gateway = [line for line in lines if line["http.route"] != "/readyz"]
    order_api = _access_lines(stack.log(ORDER_API))
    assert [line["rpc.method"] for line in order_api] == ["CreateOrder", "GetOrder"]
    # Each RPC goes on in the trace of the gateway request that made it, under the
    # gateway's unsampled span: no span of its own (nor does the project's short path).
    ids = [(line["trace_id"], line["span_id"]) for line in gateway]
    assert [(line["trace_id"], line["span_id"]) for line in order_api] == ids
    assert len(set(ids)) == 2


def test_it_names_the_services_it_runs() -> None:
    before = (grpc_client.instrument_channel, grpc_interceptors.server_interceptors)
    assert main(["services.nope"]) == 2
    assert (grpc_client.instrument_channel, grpc_interceptors.server_interceptors) == before


def test_the_floor_replaces_the_projects_grpc_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grpc_client, "instrument_channel", grpc_client.instrument_channel)
    monkeypatch.setattr(
        grpc_interceptors, "server_interceptors", grpc_interceptors.server_interceptors
    )
    install_floor()
    assert grpc_client.instrument_channel is profiles.injecting_channel
    telemetry, _ = profiles.telemetry_for("unsampled", "order-api")
    interceptors = grpc_interceptors.server_interceptors(telemetry, [SERVICE_NAME])
    assert [type(i) for i in interceptors] == [
        type(i) for i in profiles.floor_interceptors(telemetry)
    ]
    assert not any(isinstance(i, TracingServerInterceptor) for i in interceptors)
