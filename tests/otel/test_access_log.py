"""`otel.access_log`: one line per request or RPC, switched and sampled by ACCESS_LOG."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel.access_log import AccessLog
from otel.exporters import TelemetryConfigError
from otel.logs import FIELDS


@pytest.mark.parametrize(
    ("value", "ratio"),
    [("", 1.0), ("on", 1.0), ("OFF", 0.0), ("0", 0.0), ("0.25", 0.25), ("1", 1.0)],
)
def test_access_log_reads_on_off_or_a_fraction(value: str, ratio: float) -> None:
    assert AccessLog.from_env({"ACCESS_LOG": value}).ratio == ratio


@pytest.mark.parametrize("value", ["sometimes", "1.5", "-0.1", "nan"])
def test_an_unusable_access_log_value_is_one_clear_error(value: str) -> None:
    with pytest.raises(TelemetryConfigError, match="ACCESS_LOG="):
        AccessLog.from_env({"ACCESS_LOG": value})


def test_a_request_line_has_the_metric_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="access")
    AccessLog().request("GET", "/orders/<order_id>", 404, 0.0123)
    (record,) = caplog.records
    assert record.getMessage() == "GET /orders/<order_id> 404"
    assert getattr(record, FIELDS) == {
        "http.request.method": "GET",
        "http.route": "/orders/<order_id>",
        "http.response.status_code": 404,
        "duration_ms": 12.3,
    }


def test_an_rpc_line_has_the_metric_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="access")
    AccessLog().rpc("orders.v1.OrderService", "GetOrder", "NOT_FOUND", 0.002)
    (record,) = caplog.records
    assert getattr(record, FIELDS)["rpc.method"] == "GetOrder"
    assert getattr(record, FIELDS)["rpc.response.status_code"] == "NOT_FOUND"


def test_off_writes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="access")
    AccessLog(0.0).request("GET", "/orders", 200, 0.01)
    assert not caplog.records


def _in_trace(trace_id: int, log: AccessLog) -> None:
    span = NonRecordingSpan(SpanContext(trace_id, 1, is_remote=False, trace_flags=TraceFlags(1)))
    with trace.use_span(span):
        log.request("GET", "/orders", 200, 0.01)


def test_sampling_keeps_the_traces_a_trace_id_ratio_sampler_keeps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="access")
    half = AccessLog(0.5)
    _in_trace((7 << 64) | (1 << 62), half)  # low 64 bits below half: kept
    _in_trace((7 << 64) | (3 << 62), half)  # above half: dropped
    assert len(caplog.records) == 1
