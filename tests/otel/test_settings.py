"""The OTEL_* settings shared by the launcher path and the in-process path."""

from __future__ import annotations

import re

import pytest

from otel import settings
from otel.settings import (
    ConfigError,
    metrics_exporter_names,
    otlp_protocol,
    traces_exporter_names,
)


def test_stable_http_semconv_is_added_to_user_opt_ins() -> None:
    environ = {"OTEL_SEMCONV_STABILITY_OPT_IN": "database"}
    settings.ensure_stable_http_semconv(environ)
    assert environ["OTEL_SEMCONV_STABILITY_OPT_IN"] == "database,http"


def test_user_http_dup_is_kept() -> None:
    environ = {"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"}
    settings.ensure_stable_http_semconv(environ)
    assert environ["OTEL_SEMCONV_STABILITY_OPT_IN"] == "http/dup"


def test_excluded_urls_match_metrics_only() -> None:
    patterns = settings.flask_excluded_urls({}).split(",")
    regex = re.compile("|".join(patterns))
    assert regex.search("http://localhost:8080/metrics")
    assert regex.search("http://gw/metrics?x=1")
    assert not regex.search("http://localhost:8080/orders/metrics")
    assert not regex.search("http://localhost:8080/metricsx")


OUR_PATTERN = r"^https?://[^/]+/metrics(\?.*)?$"


def test_excluded_urls_keep_the_users_patterns() -> None:
    value = settings.flask_excluded_urls({"OTEL_PYTHON_FLASK_EXCLUDED_URLS": "healthz,ready$"})
    assert value == f"healthz,ready$,{OUR_PATTERN}"


def test_excluded_urls_fall_back_to_the_generic_variable() -> None:
    value = settings.flask_excluded_urls({"OTEL_PYTHON_EXCLUDED_URLS": "/internal/.*"})
    assert value == f"/internal/.*,{OUR_PATTERN}"


def test_excluded_urls_without_the_users_are_only_ours() -> None:
    assert settings.flask_excluded_urls({}) == OUR_PATTERN


def test_grpc_excluded_services_are_read_as_upstream_reads_them() -> None:
    value = " orders.v1.OrderService, grpc.health.v1.Health,"
    environ = {"OTEL_PYTHON_GRPC_EXCLUDED_SERVICES": value}

    expected = frozenset({"orders.v1.OrderService", "grpc.health.v1.Health"})
    assert settings.TelemetrySettings.from_env(environ).grpc_excluded_services == expected
    assert settings.TelemetrySettings.from_env({}).grpc_excluded_services == frozenset()


def test_grpc_excluded_services_are_read_beside_a_configuration_file() -> None:
    environ = {
        "OTEL_CONFIG_FILE": "/etc/otel.yaml",
        "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES": "orders.v1.OrderService",
    }

    parsed = settings.TelemetrySettings.from_env(environ)
    assert parsed.grpc_excluded_services == frozenset({"orders.v1.OrderService"})


def test_sdk_disabled_reads_true_only() -> None:
    assert settings.sdk_disabled({"OTEL_SDK_DISABLED": " TRUE "})
    assert not settings.sdk_disabled({"OTEL_SDK_DISABLED": "1"})
    assert not settings.sdk_disabled({})


def test_disabled_instrumentations_are_read_as_the_launcher_reads_them() -> None:
    environ = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": " flask , grpc_client,,"}
    assert settings.disabled_instrumentations(environ) == {"flask", "grpc_client"}
    assert settings.disabled_instrumentations({}) == frozenset()


def test_the_wildcard_disables_every_instrumentation() -> None:
    assert settings.is_disabled("system_metrics", frozenset({"*"}))
    assert settings.is_disabled("flask", frozenset({"flask"}))
    assert not settings.is_disabled("flask", frozenset({"grpc_server"}))


def _metrics(value: str | None) -> list[str]:
    return metrics_exporter_names({} if value is None else {"OTEL_METRICS_EXPORTER": value})


def test_metrics_default_to_prometheus() -> None:
    assert _metrics(None) == ["prometheus"]
    assert _metrics("") == ["prometheus"]


def test_comma_lists_give_several_exporters_once_each() -> None:
    assert _metrics("prometheus, OTLP,prometheus") == ["prometheus", "otlp"]


def test_none_means_no_exporter() -> None:
    assert _metrics("none") == []


def test_unknown_exporter_names_the_value_and_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as error:
        _metrics("prometheus,zipkin")
    message = str(error.value)
    assert "OTEL_METRICS_EXPORTER" in message and "'zipkin'" in message
    assert "prometheus, otlp, console, none" in message


def test_traces_have_no_prometheus() -> None:
    with pytest.raises(ConfigError):
        traces_exporter_names({"OTEL_TRACES_EXPORTER": "prometheus"})


def test_traces_default_to_none() -> None:
    assert traces_exporter_names({}) == []


def test_otlp_protocol_prefers_the_signal_variable() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }
    assert otlp_protocol(environ, "traces") == "http/protobuf"
    assert otlp_protocol(environ, "metrics") == "grpc"
    assert otlp_protocol({}, "metrics") == "grpc"


def test_unsupported_otlp_protocol_is_an_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "metrics")
