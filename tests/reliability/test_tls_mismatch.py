"""A gateway and an order-api that disagree about TLS: a 503 and a clear log line, no traceback.

Both as real processes (`python -m …`), with certificates made for the test:
a plaintext gateway against an order-api serving TLS, and a gateway speaking
TLS to a plaintext order-api. Every call that needs the order-api is answered
with the documented `503 unavailable`; the gateway logs each failure in one
line with gRPC's reason, and neither service writes a traceback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from otel_stack.harness import processes, stack_tls
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.http_call import call
from otel_stack.harness.readiness import http_ok
from otel_stack.harness.running import (
    GATEWAY,
    ORDER_API,
    STARTUP_TIMEOUT_SECONDS,
    STOP_GRACE_SECONDS,
    Stack,
    StackPorts,
    service_specs,
)
from tests.support.polling import wait_until

ORDER = {"customer_id": "c-1", "items": [{"sku": "s-1", "quantity": 1, "unit_price_cents": 1}]}


@contextmanager
def _mismatched_stack(directory: Path, environ: dict[str, str]) -> Iterator[Stack]:
    """Both services on `environ`; the gateway counts as started once `/healthz` answers."""
    ports = StackPorts.free()
    order_api, gateway = service_specs(
        ports, directory, child_environ({"OTEL_SDK_DISABLED": "true", **environ}), launcher=False
    )
    healthz = f"{ports.gateway_url}/healthz"
    gateway = dataclasses.replace(
        gateway, ready=lambda: http_ok(healthz), ready_description=f"GET {healthz}"
    )
    stack = Stack(ports, {})
    try:
        for spec in (order_api, gateway):
            stack.services[spec.name] = processes.start(spec, timeout=STARTUP_TIMEOUT_SECONDS)
        yield stack
    finally:
        processes.stop_all(list(stack.services.values()), grace=STOP_GRACE_SECONDS)


def _assert_unavailable_without_traceback(stack: Stack, reason: str) -> None:
    for method, path, body in (
        ("POST", "/orders", ORDER),
        ("GET", "/orders/o-1", None),
        ("GET", "/orders", None),
    ):
        answer = call(method, f"{stack.gateway_url}{path}", body, timeout=10)
        assert answer.status == 503, (method, path, answer)
        assert answer.json()["error"]["code"] == "unavailable"
    assert call("GET", f"{stack.gateway_url}/readyz", timeout=10).status == 503
    wait_until(
        lambda: "order-api call failed: UNAVAILABLE" in stack.log(GATEWAY),
        30,
        "the gateway's log line",
    )
    failures = [line for line in stack.log(GATEWAY).splitlines() if "order-api call failed" in line]
    assert all(reason in line for line in failures), failures
    for name in (GATEWAY, ORDER_API):
        assert "Traceback" not in stack.log(name), stack.log(name)


def test_plaintext_gateway_against_a_tls_order_api_answers_503(tmp_path: Path) -> None:
    tls = stack_tls.create(tmp_path / "tls")
    with _mismatched_stack(tmp_path, tls.order_api_environ()) as stack:
        _assert_unavailable_without_traceback(stack, "Socket closed")
        # The order-api's side names the cause (gRPC's own log line).
        wait_until(
            lambda: "WRONG_VERSION_NUMBER" in stack.log(ORDER_API), 30, "the order-api's line"
        )


def test_tls_gateway_against_a_plaintext_order_api_answers_503(tmp_path: Path) -> None:
    tls = stack_tls.create(tmp_path / "tls")
    with _mismatched_stack(tmp_path, tls.gateway_environ()) as stack:
        _assert_unavailable_without_traceback(stack, "handshake failed")
