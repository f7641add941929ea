"""Choosing exporters from OTEL_METRICS_EXPORTER / OTEL_TRACES_EXPORTER."""

from __future__ import annotations

import pytest

from otel.exporters import (
    TelemetryConfigError,
    metrics_exporter_names,
    otlp_protocol,
    traces_exporter_names,
)


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
    with pytest.raises(TelemetryConfigError) as error:
        _metrics("prometheus,zipkin")
    message = str(error.value)
    assert "OTEL_METRICS_EXPORTER" in message and "'zipkin'" in message
    assert "prometheus, otlp, console, none" in message


def test_traces_have_no_prometheus() -> None:
    with pytest.raises(TelemetryConfigError):
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
    with pytest.raises(TelemetryConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        otlp_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "metrics")
