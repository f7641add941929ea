"""`otel-stack verify`: the metric contract against live and broken endpoints (verify.py)."""

from __future__ import annotations

import http.server
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_stack.cli.verify import GATEWAY, ORDER_API, check_exposition
from otel_stack.harness.running import running_stack
from otel_stack.harness.scrape import Exposition
from tests.otel_stack.cli.stack_run import run_cli
from tests.support.http_server import serving_http

# A gateway exposition with the SDK's default buckets instead of the contract's,
# and an order-api exposition without grpc_requests_total.
ROUTE = 'method="GET",route="/orders/<order_id>",status_code="200"'
BROKEN = (
    "# TYPE http_requests_total counter\n"
    f"http_requests_total{{{ROUTE}}} 3.0\n"
    "# TYPE http_request_duration_seconds histogram\n"
    f'http_request_duration_seconds_bucket{{{ROUTE},le="0.005"}} 3.0\n'
    f'http_request_duration_seconds_bucket{{{ROUTE},le="0.01"}} 3.0\n'
    f'http_request_duration_seconds_bucket{{{ROUTE},le="+Inf"}} 3.0\n'
    f"http_request_duration_seconds_count{{{ROUTE}}} 3.0\n"
    f"http_request_duration_seconds_sum{{{ROUTE}}} 0.003\n"
    "# TYPE orders_created_total counter\n"
    "orders_created_total 0.0\n"
    "# TYPE target_info gauge\n"
    'target_info{service_name="order-api"} 1.0\n'
)


class _Exposition(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = BROKEN.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def broken_endpoint() -> Iterator[str]:
    with serving_http(_Exposition) as url:
        yield url


def _verify(
    gateway: str, order_api_metrics: str, **environ: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "otel_stack", "verify"]
    command += ["--gateway", gateway, "--order-api-metrics", order_api_metrics]
    return run_cli(command, environ=environ)


def _failed(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("✗", "FAIL"))]


def test_verify_passes_on_the_real_services(tmp_path: Path) -> None:
    with running_stack(tmp_path, launcher=True) as stack:
        result = _verify(stack.gateway_url, stack.order_api_metrics_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _failed(result.stdout)
    assert 'web-gateway: target_info has service_name="web-gateway"' in result.stdout
    assert 'order-api: target_info has service_name="order-api"' in result.stdout
    assert "web-gateway: http_request_duration_seconds buckets 0.001, 0.01" in result.stdout


def test_verify_fails_naming_wrong_buckets_and_missing_metrics(broken_endpoint: str) -> None:
    result = _verify(broken_endpoint, f"{broken_endpoint}/metrics")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = "\n".join(_failed(result.stdout))
    assert "web-gateway: http_request_duration_seconds buckets" in failed
    assert "found 0.005, 0.01, +Inf" in failed
    assert "order-api: grpc_requests_total present" in failed
    assert "Traceback" not in result.stderr


def test_verify_marks_are_plain_words_when_the_output_cannot_encode_check_marks(
    broken_endpoint: str,
) -> None:
    result = _verify(broken_endpoint, f"{broken_endpoint}/metrics", PYTHONIOENCODING="ascii")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("FAIL order-api: grpc_requests_total present") for line in lines)
    assert any(line.startswith("OK ") for line in lines)


def test_unreachable_endpoint_is_one_failed_check() -> None:
    result = _verify("http://127.0.0.1:9", "http://127.0.0.1:9/metrics")
    assert result.returncode == 1
    assert len(_failed(result.stdout)) == 2


def test_missing_metric_is_a_single_failed_item() -> None:
    checks = check_exposition(ORDER_API, Exposition.parse(BROKEN))
    failed = [check.item for check in checks if not check.ok]
    assert failed.count("grpc_requests_total present") == 1
    assert not any(
        item.startswith("grpc_requests_total ") and "present" not in item for item in failed
    )


def test_extra_label_breaks_an_exact_label_set() -> None:
    text = (
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="GET",route="/x",status_code="200",user="u1"} 1\n'
    )
    checks = {check.item: check for check in check_exposition(GATEWAY, Exposition.parse(text))}
    check = checks["http_requests_total labels method, route, status_code"]
    assert not check.ok
    assert "user" in check.detail


def test_scope_labels_are_not_part_of_the_label_contract() -> None:
    text = (
        "# TYPE orders_created_total counter\n"
        'orders_created_total{otel_scope_name="s",otel_scope_version="1",'
        'otel_scope_schema_url=""} 1\n'
    )
    checks = {check.item: check for check in check_exposition(ORDER_API, Exposition.parse(text))}
    assert checks["orders_created_total labels none"].ok


def test_a_contract_without_an_instrumentation_drops_only_its_series() -> None:
    names = {metric.name for metric in GATEWAY.metrics}
    lean = {metric.name for metric in GATEWAY.without(frozenset({"flask"})).metrics}
    assert names - lean == {"http_server_request_duration_seconds"}
    bare = {metric.name for metric in ORDER_API.without(frozenset({"*"})).metrics}
    assert not any(name.startswith(("process_", "cpython_")) for name in bare)
    assert {"grpc_requests_total", "orders_created_total", "target_info"} <= bare
