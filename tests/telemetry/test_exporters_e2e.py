"""Exporters swapped by OTEL_* variables and launcher flags, over real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.http_call import create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.otlp_receiver import counter_value, running_receiver
from otel_stack.harness.processes import launcher_path
from otel_stack.harness.running import Stack, free_port, running_stack
from otel_stack.harness.scrape import scrape
from tests.support import REPO
from tests.support.polling import wait_until


def _post_order(stack: Stack) -> str:
    return create_order(stack.gateway_url, EXAMPLE_ORDER)


@pytest.mark.parametrize("launcher", [False, True], ids=["plain", "launcher"])
def test_otlp_receives_metrics_logs_and_one_trace_across_both_services(
    tmp_path: Path, launcher: bool
) -> None:
    with running_receiver() as (receiver, port):
        environ = {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_METRIC_EXPORT_INTERVAL": "300",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with running_stack(tmp_path, launcher=launcher, environ=environ) as stack:
            _post_order(stack)

            def metrics_arrived() -> bool:
                gateway = receiver.metrics("web-gateway").get("http.requests")
                order_api = receiver.metrics("order-api").get("grpc.requests")
                return bool(
                    gateway
                    and order_api
                    and counter_value(gateway, method="POST", route="/orders", status_code="201")
                    == 1
                    and counter_value(order_api, method="CreateOrder", status="OK") == 1
                )

            wait_until(metrics_arrived, 15, "the counters over OTLP")
            wait_until(
                lambda: bool(receiver.spans("web-gateway") and receiver.spans("order-api")),
                15,
                "spans from both services",
            )
            # With OTLP only, nothing is served on /metrics.
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(stack.gateway_url + "/metrics", timeout=5)
            assert missing.value.code == 404

        gateway_server = [s for s in receiver.spans("web-gateway") if s.kind == s.SPAN_KIND_SERVER]
        order_server = [s for s in receiver.spans("order-api") if s.kind == s.SPAN_KIND_SERVER]
        post = next(s for s in gateway_server if s.name == "POST /orders")
        create = next(s for s in order_server if s.name.endswith("CreateOrder"))
        assert create.trace_id == post.trace_id
        for service, span in (("web-gateway", post), ("order-api", create)):
            logged = [r for r in receiver.log_records(service) if r.span_id == span.span_id]
            assert len(logged) == 1, service  # the request's access line, exported once
            assert logged[0].trace_id == post.trace_id
        assert "http.server.request.duration" in receiver.metrics("web-gateway")
        assert "rpc.server.call.duration" in receiver.metrics("order-api")


def test_prometheus_and_otlp_together(tmp_path: Path) -> None:
    with running_receiver() as (receiver, port):
        environ = {
            "OTEL_METRICS_EXPORTER": "prometheus,otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_METRIC_EXPORT_INTERVAL": "300",
        }
        with running_stack(tmp_path, environ=environ) as stack:
            _post_order(stack)
            labels = {"method": "POST", "route": "/orders", "status_code": "201"}
            gateway = scrape(stack.gateway_url + "/metrics")
            assert gateway.value("http_requests_total", **labels) == 1
            wait_until(
                lambda: "http.requests" in receiver.metrics("web-gateway"), 15, "OTLP metrics"
            )


def test_launcher_flags_work_like_the_variables(tmp_path: Path) -> None:
    with running_receiver() as (receiver, port):
        grpc_port, metrics_port = free_port(), free_port()
        command = [
            str(launcher_path()),
            "--metrics_exporter",
            "otlp",
            "--traces_exporter",
            "none",
            sys.executable,
            "-m",
            "services.order_api",
        ]
        environ = child_environ(
            {
                "ORDER_API_LISTEN": f"127.0.0.1:{grpc_port}",
                "ORDER_API_DB": str(tmp_path / "orders.db"),
                "OTEL_EXPORTER_PROMETHEUS_PORT": str(metrics_port),
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_METRIC_EXPORT_INTERVAL": "300",
            }
        )
        process = subprocess.Popen(command, env=environ, cwd=REPO, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: "grpc.requests" in receiver.metrics("order-api"), 20, "OTLP")
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0


def test_sdk_disabled_keeps_services_working_without_telemetry(tmp_path: Path) -> None:
    with running_stack(tmp_path, environ={"OTEL_SDK_DISABLED": "true"}) as stack:
        _post_order(stack)
        with pytest.raises(urllib.error.HTTPError) as disabled:
            urllib.request.urlopen(stack.gateway_url + "/metrics", timeout=5)
        assert disabled.value.code == 404
        assert json.loads(disabled.value.read())["error"]["code"] == "telemetry_disabled"
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(stack.order_api_metrics_url, timeout=2)


@pytest.mark.parametrize("module", ["services.order_api", "services.web_gateway"])
@pytest.mark.parametrize("launcher", [False, True], ids=["plain", "launcher"])
def test_unknown_exporter_stops_the_service_with_one_line(
    tmp_path: Path, module: str, launcher: bool
) -> None:
    command = [sys.executable, "-m", module]
    if launcher:
        command = [str(launcher_path()), *command]
    environ = child_environ(
        {
            "OTEL_METRICS_EXPORTER": "prometheus,statsd",
            "ORDER_API_DB": str(tmp_path / "orders.db"),
            "ORDER_API_LISTEN": f"127.0.0.1:{free_port()}",
            "GATEWAY_LISTEN": f"127.0.0.1:{free_port()}",
        }
    )
    result = subprocess.run(
        command, env=environ, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "OTEL_METRICS_EXPORTER='prometheus,statsd'" in lines[0]
    assert "statsd" in lines[0] and "prometheus, otlp, console, none" in lines[0]
