"""`otel.access_log`: one JSON line per request or RPC, queued, sampled, written in batches."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel.access_log import AccessLineWriter, AccessLog
from otel.logs import FIELDS, JsonLineFormatter
from tests.support.polling import wait_until

SERVICE = "probe-service"
# Long enough that only an explicit flush (or close) writes, unless a test says otherwise.
NEVER = 3600.0


class BrokenStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def write(self, text: str) -> int:
        self.attempts += 1
        raise OSError("stderr is gone")


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def writer(stream: io.StringIO) -> Iterator[AccessLineWriter]:
    line_writer = AccessLineWriter(SERVICE, stream, interval=NEVER)
    yield line_writer
    line_writer.close()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_line_has_the_metric_fields(
    writer: AccessLineWriter, stream: io.StringIO
) -> None:
    AccessLog(1.0, writer).request("GET", "/orders/<order_id>", 404, 0.0123)
    writer.flush()
    (line,) = _lines(stream)
    assert line["message"] == "GET /orders/<order_id> 404"
    assert line["logger"] == "access"
    assert line["service.name"] == SERVICE
    assert {key: line[key] for key in list(line)[5:]} == {
        "http.request.method": "GET",
        "http.route": "/orders/<order_id>",
        "http.response.status_code": 404,
        "duration_ms": 12.3,
    }


def test_a_line_is_what_the_json_formatter_writes_for_the_same_record(
    writer: AccessLineWriter, stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_700_000_000.25
    monkeypatch.setattr(time, "time", lambda: now)
    route = '/a "quoted" \\ route'
    span_context = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(span_context)):
        AccessLog(1.0, writer).request("POST", route, 201, 0.0021)
        record = logging.LogRecord("access", logging.INFO, __file__, 1, "", None, None)
    writer.flush()
    record.msg, record.created = f"POST {route} 201", now
    fields = {
        "http.request.method": "POST",
        "http.route": route,
        "http.response.status_code": 201,
        "duration_ms": 2.1,
    }
    setattr(record, FIELDS, fields)
    with trace.use_span(NonRecordingSpan(span_context)):
        expected = JsonLineFormatter(SERVICE).format(record)
    assert stream.getvalue() == expected + "\n"


def test_an_rpc_line_has_the_metric_fields(writer: AccessLineWriter, stream: io.StringIO) -> None:
    AccessLog(1.0, writer).rpc("orders.v1.OrderService", "GetOrder", "NOT_FOUND", 0.002)
    writer.flush()
    (line,) = _lines(stream)
    assert line["message"] == "orders.v1.OrderService/GetOrder NOT_FOUND"
    assert line["rpc.method"] == "GetOrder"
    assert line["rpc.response.status_code"] == "NOT_FOUND"
    assert line["duration_ms"] == 2.0


def test_off_writes_nothing(writer: AccessLineWriter, stream: io.StringIO) -> None:
    AccessLog(0.0, writer).request("GET", "/orders", 200, 0.01)
    AccessLog(1.0, None).request("GET", "/orders", 200, 0.01)
    writer.flush()
    assert stream.getvalue() == ""


def _in_trace(trace_id: int, log: AccessLog) -> None:
    span = NonRecordingSpan(SpanContext(trace_id, 1, is_remote=False, trace_flags=TraceFlags(1)))
    with trace.use_span(span):
        log.request("GET", "/orders", 200, 0.01)


def test_sampling_keeps_the_traces_a_trace_id_ratio_sampler_keeps(
    writer: AccessLineWriter, stream: io.StringIO
) -> None:
    half = AccessLog(0.5, writer)
    _in_trace((7 << 64) | (1 << 62), half)  # low 64 bits below half: kept
    _in_trace((7 << 64) | (3 << 62), half)  # above half: dropped
    writer.flush()
    (line,) = _lines(stream)
    assert line["trace_id"] == format((7 << 64) | (1 << 62), "032x")


def test_queued_lines_are_written_by_the_writers_thread(stream: io.StringIO) -> None:
    writer = AccessLineWriter(SERVICE, stream, interval=0.01)
    try:
        AccessLog(1.0, writer).request("GET", "/orders", 200, 0.01)
        wait_until(lambda: bool(stream.getvalue()), 10, "the writer thread's line")
        assert len(_lines(stream)) == 1
    finally:
        writer.close()


def test_close_writes_what_is_queued_and_later_lines_at_once(
    writer: AccessLineWriter, stream: io.StringIO
) -> None:
    log = AccessLog(1.0, writer)
    log.request("GET", "/orders", 200, 0.01)
    log.close()
    assert len(_lines(stream)) == 1
    log.request("GET", "/orders", 200, 0.01)
    assert len(_lines(stream)) == 2


def test_lines_beyond_the_queue_limit_are_dropped_and_reported(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AccessLineWriter(SERVICE, stream, interval=NEVER, max_pending=3)
    log = AccessLog(1.0, writer)
    for _ in range(5):
        log.request("GET", "/orders", 200, 0.01)
    writer.close()
    assert len(_lines(stream)) == 3
    assert "2 access lines dropped: more than 3 were waiting" in caplog.text


def test_a_broken_stream_does_not_reach_the_request(caplog: pytest.LogCaptureFixture) -> None:
    broken = BrokenStream()
    writer = AccessLineWriter(SERVICE, broken, interval=NEVER)
    AccessLog(1.0, writer).request("GET", "/orders", 200, 0.01)
    writer.close()  # writes the queued line: the stream's error stays in the writer
    assert broken.attempts == 1


def test_with_a_logger_provider_the_record_reaches_the_sdk_with_its_span(
    stream: io.StringIO,
) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    writer = AccessLineWriter(SERVICE, stream, provider, interval=NEVER)
    with TracerProvider().get_tracer("test").start_as_current_span("request") as span:
        AccessLog(1.0, writer).request("GET", "/orders", 200, 0.0015)
    writer.close()
    (exported,) = exporter.get_finished_logs()
    record = exported.log_record
    assert record.body == "GET /orders 200"
    assert record.trace_id == span.get_span_context().trace_id
    assert record.span_id == span.get_span_context().span_id
    assert dict(record.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/orders",
        "http.response.status_code": 200,
        "duration_ms": 1.5,
    }
    (line,) = _lines(stream)
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    provider.shutdown()


class StuckStream(io.StringIO):
    """A stderr nobody reads: writes block until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        assert self.release.wait(30)
        return super().write(text)


def test_a_stuck_stderr_drops_lines_instead_of_stalling_requests(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = StuckStream()
    writer = AccessLineWriter(SERVICE, stream, interval=0.01, max_pending=5)
    log = AccessLog(1.0, writer)
    log.request("GET", "/orders", 200, 0.01)
    assert stream.entered.wait(10)  # the writer's thread is now stuck in write()
    for _ in range(7):
        log.request("GET", "/orders", 200, 0.01)  # returns: only a queue
    stream.release.set()
    writer.close()
    assert len(_lines(stream)) == 1 + 5
    assert "2 access lines dropped" in caplog.text
