"""`otel.logs`: JSON lines with the current span, and the same records through the SDK."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel.logs import FIELDS, configure_logging
from otel.settings import ConfigError, logs_exporter_names

TRACER = TracerProvider().get_tracer("test")


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def exported(restore_root_logger: None) -> Iterator[tuple[io.StringIO, InMemoryLogRecordExporter]]:
    """Root logging configured to a buffer and an in-memory SDK exporter."""
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=Resource({"service.name": "probe-service"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    stream = io.StringIO()
    configure_logging("probe-service", provider, stream=stream)
    yield stream, exporter
    provider.shutdown()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_inside_a_span_carries_its_trace_and_span_ids(
    exported: tuple[io.StringIO, InMemoryLogRecordExporter],
) -> None:
    stream, _ = exported
    with TRACER.start_as_current_span("work") as span:
        logging.getLogger("probe").info("hello %s", "world")
    (line,) = _lines(stream)
    context = span.get_span_context()
    assert line["message"] == "hello world"
    assert line["service.name"] == "probe-service"
    assert line["level"] == "INFO" and line["logger"] == "probe"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_a_line_outside_any_span_has_no_trace_fields(
    exported: tuple[io.StringIO, InMemoryLogRecordExporter],
) -> None:
    stream, _ = exported
    logging.getLogger("probe").warning("alone")
    (line,) = _lines(stream)
    assert "trace_id" not in line and "span_id" not in line
    assert line["level"] == "WARNING"


def test_structured_fields_and_exceptions_become_json_fields(
    exported: tuple[io.StringIO, InMemoryLogRecordExporter],
) -> None:
    stream, _ = exported
    try:
        raise KeyError("boom")
    except KeyError:
        logging.getLogger("probe").exception("failed", extra={FIELDS: {"http.route": "/x"}})
    (line,) = _lines(stream)
    assert line["http.route"] == "/x"
    assert line["exception.type"] == "KeyError"
    assert "Traceback" in line["exception.stacktrace"]


def test_records_reach_the_sdk_with_body_fields_trace_and_resource(
    exported: tuple[io.StringIO, InMemoryLogRecordExporter],
) -> None:
    _, exporter = exported
    with TRACER.start_as_current_span("work") as span:
        logging.getLogger("probe").info("GET /x 200", extra={FIELDS: {"duration_ms": 1.5}})
    (record,) = exporter.get_finished_logs()
    assert record.log_record.body == "GET /x 200"
    assert record.log_record.severity_text == "INFO"
    assert dict(record.log_record.attributes or {}) == {"duration_ms": 1.5}
    assert record.log_record.trace_id == span.get_span_context().trace_id
    assert record.log_record.span_id == span.get_span_context().span_id
    assert record.resource.attributes["service.name"] == "probe-service"


def test_the_sdks_own_records_are_not_fed_back_into_it(
    exported: tuple[io.StringIO, InMemoryLogRecordExporter],
) -> None:
    stream, exporter = exported
    logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")
    assert exporter.get_finished_logs() == ()
    assert _lines(stream)[0]["message"] == "export failed"


def test_configuring_twice_does_not_duplicate_lines(restore_root_logger: None) -> None:
    stream = io.StringIO()
    configure_logging("probe-service", stream=stream)
    configure_logging("probe-service", stream=stream)
    logging.getLogger("probe").info("once")
    assert len(_lines(stream)) == 1


def test_logs_export_nothing_unless_asked() -> None:
    assert logs_exporter_names({}) == []
    assert logs_exporter_names({"OTEL_LOGS_EXPORTER": "otlp,console"}) == ["otlp", "console"]


def test_an_unknown_logs_exporter_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_LOGS_EXPORTER='loki'"):
        logs_exporter_names({"OTEL_LOGS_EXPORTER": "loki"})
