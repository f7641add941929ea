"""`otel_stack.harness.access_durations`: RPC durations from access lines, exact quantiles."""

from __future__ import annotations

import pytest

from otel_stack.harness.access_durations import exact_quantile, relative_error, rpc_durations

LINES = [
    '{"time":"t","level":"INFO","logger":"access","service.name":"order-api",'
    '"message":"orders.v1.OrderService/GetOrder OK","rpc.service":"orders.v1.OrderService",'
    '"rpc.method":"GetOrder","rpc.response.status_code":"OK","duration_ms":0.25}',
    '{"time":"t","level":"INFO","logger":"access","service.name":"order-api",'
    '"message":"orders.v1.OrderService/GetOrder NOT_FOUND","rpc.service":"orders.v1.OrderService",'
    '"rpc.method":"GetOrder","rpc.response.status_code":"NOT_FOUND","duration_ms":1.5}',
    '{"time":"t","level":"INFO","logger":"order_api","message":"serving gRPC"}',
    "not json at all",
]


def test_rpc_durations_are_seconds_by_method_from_access_lines_only() -> None:
    assert rpc_durations(LINES) == {"GetOrder": [0.00025, 0.0015]}


@pytest.mark.parametrize(("q", "expected"), [(0.5, 5.0), (0.9, 9.0), (0.99, 10.0), (1.0, 10.0)])
def test_exact_quantile_is_the_nearest_rank(q: float, expected: float) -> None:
    assert exact_quantile(q, [float(n) for n in range(10, 0, -1)]) == expected


def test_relative_error_is_unsigned() -> None:
    assert relative_error(9.0, 10.0) == pytest.approx(0.1)
    assert relative_error(11.0, 10.0) == pytest.approx(0.1)
