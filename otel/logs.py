"""Logs that belong to traces: JSON lines on stderr, and the same records through the SDK.

Every record goes to stderr as one JSON object per line, with the service name
and, when a span is current, its `trace_id` and `span_id`. With
OTEL_LOGS_EXPORTER=otlp (or `console`; the default `none` exports nothing) the
same records also go through an SDK `LoggerProvider`: message as body, the
structured fields as attributes, the current span as context, the service's
resource. `Telemetry.shutdown()` flushes it with the spans and metrics.

The records come from the standard `logging` module, so the services and the
libraries they use need nothing else. A logging.Handler of the project's own
does the hand-over to the SDK (the SDK's `LoggingHandler` is deprecated, and
the replacement in `opentelemetry-instrumentation-logging` is also an
instrumentor the launcher would load, making the two start paths differ).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otel import exporters

# Structured fields travel on a record as `extra={FIELDS: {...}}`.
FIELDS = "fields"

_SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
# The SDK's own records are not exported through the SDK: a failing exporter would feed itself.
_NOT_EXPORTED = ("opentelemetry",)


def build_logger_provider(
    resource: Resource, names: Sequence[str], protocol: str = "grpc"
) -> LoggerProvider | None:
    """A LoggerProvider exporting to OTEL_LOGS_EXPORTER's exporters; None when there are none."""
    if not names:
        return None
    provider = LoggerProvider(resource=resource)
    for name in names:
        exporter = exporters.log_exporter(name, protocol)
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider


def configure_logging(
    service_name: str,
    logger_provider: LoggerProvider | None = None,
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> None:
    """Send the root logger's records to stderr as JSON lines, and to `logger_provider` if any.

    Replaces handlers installed before (a second call does not duplicate lines).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(JsonLineFormatter(service_name))
    root.addHandler(console)
    if logger_provider is not None:
        root.addHandler(SdkLogHandler(logger_provider))
    root.setLevel(level)


def span_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, as hex; empty without a valid span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, service, message, trace, fields."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "service.name": self._service_name,
            "message": record.getMessage(),
        }
        # Formatted in the thread that logged (StreamHandler is synchronous): its span is current.
        document.update(span_ids())
        document.update(getattr(record, FIELDS, None) or {})
        if record.exc_info and record.exc_info[0] is not None:
            document["exception.type"] = record.exc_info[0].__name__
            document["exception.stacktrace"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, separators=(",", ":"))


class SdkLogHandler(logging.Handler):
    """Hands each record to an SDK logger named after the record's logger, with the current span."""

    def __init__(self, logger_provider: LoggerProvider) -> None:
        super().__init__()
        self._provider = logger_provider
        self._loggers: dict[str, Logger] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_NOT_EXPORTED):
            return
        logger = self._loggers.get(record.name)
        if logger is None:
            logger = self._loggers.setdefault(record.name, self._provider.get_logger(record.name))
        attributes: dict[str, Any] = {
            key: value
            for key, value in (getattr(record, FIELDS, None) or {}).items()
            if isinstance(value, (str, bool, int, float))
        }
        if record.exc_info and record.exc_info[0] is not None:
            attributes["exception.type"] = record.exc_info[0].__name__
        logger.emit(
            timestamp=int(record.created * 1e9),
            observed_timestamp=time.time_ns(),
            context=otel_context.get_current(),
            severity_number=_SEVERITY.get(record.levelno, SeverityNumber.UNSPECIFIED),
            severity_text=_SEVERITY_TEXT.get(record.levelname, record.levelname),
            body=record.getMessage(),
            attributes=attributes,
        )


def utc_timestamp(created: float) -> str:
    """`created` (seconds since the epoch) as RFC 3339 UTC with milliseconds."""
    return f"{_utc_second(int(created))}.{int(created % 1 * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
