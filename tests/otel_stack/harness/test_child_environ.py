"""What a child started by the harness finds in its environment."""

from __future__ import annotations

from otel_stack.harness.child_environ import child_environ

CALLER = {
    "PATH": "/usr/bin",
    "OTEL_METRICS_EXPORTER": "otlp",
    "ORDER_API_DB": "/tmp/orders.db",
    "GATEWAY_THREADS": "4",
    "ACCESS_LOG": "0.5",
    "OTEL_SERVICE_NAME": "mine",
    "OTEL_STACK_CACHE": "/cache/tools",
}


def test_tests_drop_the_callers_service_settings_but_keep_the_tool_cache() -> None:
    child = child_environ({"ACCESS_LOG": "1"}, environ=CALLER)

    assert child == {
        "PATH": "/usr/bin",
        "OTEL_STACK_CACHE": "/cache/tools",
        "ACCESS_LOG": "1",
    }


def test_up_keeps_the_users_settings_but_not_the_per_child_ones() -> None:
    child = child_environ(user_settings=True, environ=CALLER)

    assert child["ORDER_API_DB"] == "/tmp/orders.db"
    assert child["GATEWAY_THREADS"] == "4"
    assert child["OTEL_METRICS_EXPORTER"] == "otlp,prometheus"
    assert child["OTEL_STACK_CACHE"] == "/cache/tools"
    assert "OTEL_SERVICE_NAME" not in child
