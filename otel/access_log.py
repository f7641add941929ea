"""Access lines: one JSON line per request at the gateway and per RPC at the order-api.

Written where the request metrics are recorded, so each line has exactly the
metric's bounded fields (method, URL rule or RPC method, status, duration) and
the current span's ids — never the raw path, query, headers or body.

The services' ACCESS_LOG setting turns them on (`on`, the default), off (`off`),
or keeps a fraction (`0.1`): `AccessLog` receives the fraction. Sampling follows
the trace id when there is one, in the same way as the SDK's trace-id ratio
sampler, so with equal ratios the kept lines are those of the kept traces.

The lines have the shape of `otel.logs.JsonLineFormatter` (logger `access`) but
do not go through `logging`: a record, a handler lock and a write per line cost
gateway CPU on every request (README, "Logs that belong to traces"). Like nginx's
buffered `access_log`, the request thread only queues what the line needs; a
thread of the writer's own renders the queued lines and writes them in one call
every FLUSH_INTERVAL_SECONDS, and on `close()`. At most MAX_PENDING_LINES wait:
a slow stderr drops lines (counted, and reported as a warning) instead of
stalling requests. With a LoggerProvider the same records also go to the SDK,
from the request thread, with its span as context.
"""

from __future__ import annotations

import atexit
import json
import logging
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TextIO

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.trace import SpanContext

from otel.logs import utc_timestamp

LOGGER_NAME = "access"
FLUSH_INTERVAL_SECONDS = 0.1
MAX_PENDING_LINES = 10_000
# Distinct (method, route, status) or (method, code) pairs whose JSON is kept ready; the
# values are bounded by construction, this only caps memory should that ever change.
_MAX_TEMPLATES = 1024
_TRACE_ID_LIMIT = 1 << 64

logger = logging.getLogger(__name__)


class LineTemplate:
    """What every line of one method/route/status shares: message, fields, their JSON."""

    __slots__ = ("attributes", "head", "message", "tail")

    def __init__(self, service_name: str, message: str, fields: Mapping[str, str | int]) -> None:
        self.message = message
        self.attributes = dict(fields)
        self.head = (
            f',"level":"INFO","logger":"{LOGGER_NAME}","service.name":{json.dumps(service_name)}'
            f',"message":{json.dumps(message)}'
        )
        rendered = "".join(
            f",{json.dumps(key)}:{json.dumps(value)}" for key, value in fields.items()
        )
        self.tail = f'{rendered},"duration_ms":'


# What tells one line's template from another's: ("http", method, route, status code) or
# ("rpc", service, method, code).
_LineKey = tuple[str, str, str, str | int]
# What the request thread queues: (time, template, duration in ms, span context).
_Pending = tuple[float, LineTemplate, float, SpanContext]


class AccessLineWriter:
    """Renders queued access lines and writes them to `stream` in batches, off the request path."""

    def __init__(
        self,
        service_name: str,
        stream: TextIO | None = None,
        logger_provider: LoggerProvider | None = None,
        *,
        interval: float = FLUSH_INTERVAL_SECONDS,
        max_pending: int = MAX_PENDING_LINES,
    ) -> None:
        self.service_name = service_name
        self._stream = stream or sys.stderr
        self._sdk_logger = logger_provider.get_logger(LOGGER_NAME) if logger_provider else None
        self._interval = interval
        self._max_pending = max_pending
        self._pending: deque[_Pending] = deque()
        self._dropped = 0
        self._lock = threading.Lock()  # starting the thread, counting drops
        self._flush_lock = threading.Lock()  # one flush at a time keeps lines in order
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def add(self, template: LineTemplate, seconds: float, span_context: SpanContext) -> None:
        """Queue one line (and hand the record to the SDK, if exporting logs)."""
        created = time.time()
        duration_ms = round(seconds * 1000, 3)
        if self._sdk_logger is not None:
            self._sdk_logger.emit(
                timestamp=int(created * 1e9),
                observed_timestamp=time.time_ns(),
                context=otel_context.get_current(),
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body=template.message,
                attributes={**template.attributes, "duration_ms": duration_ms},
            )
        if len(self._pending) >= self._max_pending:
            with self._lock:
                self._dropped += 1
            return
        self._pending.append((created, template, duration_ms, span_context))
        if self._closed.is_set():
            self.flush()
        elif self._thread is None:
            self._start()

    def flush(self) -> None:
        """Render and write every queued line now, in the calling thread."""
        with self._flush_lock:
            lines = [_render(*self._pending.popleft()) for _ in range(len(self._pending))]
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if lines:
                self._write("".join(lines))
        if dropped:
            logger.warning(
                "%d access lines dropped: more than %d were waiting to be written",
                dropped,
                self._max_pending,
            )

    def close(self) -> None:
        """Stop the writer thread and write what is queued; later lines are written at once."""
        self._closed.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        atexit.unregister(self.close)
        self.flush()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while not self._closed.wait(self._interval):
            self.flush()

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: the lines cannot be kept
            pass


def _render(created: float, template: LineTemplate, duration_ms: float, span: SpanContext) -> str:
    ids = (
        f',"trace_id":"{span.trace_id:032x}","span_id":"{span.span_id:016x}"'
        if span.is_valid
        else ""
    )
    return (
        f'{{"time":"{utc_timestamp(created)}"{template.head}{ids}{template.tail}{duration_ms!r}}}\n'
    )


class AccessLog:
    """Queues an access line for the given fraction of requests; off without a writer."""

    def __init__(self, ratio: float = 0.0, writer: AccessLineWriter | None = None) -> None:
        self.ratio = ratio
        self._writer = writer if ratio > 0.0 else None
        self._templates: dict[_LineKey, LineTemplate] = {}

    @property
    def enabled(self) -> bool:
        """Whether any line is written."""
        return self._writer is not None

    def request(self, method: str, route: str, status_code: int, seconds: float) -> None:
        """One gateway request, as recorded in `http_request_duration_seconds`."""
        self._add(("http", method, route, status_code), seconds)

    def rpc(self, service: str, method: str, code: str, seconds: float) -> None:
        """One order-api RPC, as recorded in `grpc_request_duration_seconds`."""
        self._add(("rpc", service, method, code), seconds)

    def close(self) -> None:
        """Write the queued lines and stop the writer's thread."""
        if self._writer is not None:
            self._writer.close()

    def _add(self, key: _LineKey, seconds: float) -> None:
        kept = self._kept()
        if kept is None:
            return
        writer, span_context = kept
        template = self._templates.get(key) or self._template(writer, key)
        writer.add(template, seconds, span_context)

    def _template(self, writer: AccessLineWriter, key: _LineKey) -> LineTemplate:
        kind, first, second, third = key
        if kind == "http":  # method, route, status code
            message = f"{first} {second} {third}"
            fields: dict[str, str | int] = {
                "http.request.method": first,
                "http.route": second,
                "http.response.status_code": third,
            }
        else:  # service, method, code
            message = f"{first}/{second} {third}"
            fields = {"rpc.service": first, "rpc.method": second, "rpc.response.status_code": third}
        template = LineTemplate(writer.service_name, message, fields)
        if len(self._templates) < _MAX_TEMPLATES:
            self._templates[key] = template
        return template

    def _kept(self) -> tuple[AccessLineWriter, SpanContext] | None:
        """The writer and the current span's context, if this request gets a line."""
        if self._writer is None:
            return None
        span_context = trace.get_current_span().get_span_context()
        if self.ratio >= 1.0:
            return self._writer, span_context
        if span_context.is_valid:
            kept = (span_context.trace_id % _TRACE_ID_LIMIT) < self.ratio * _TRACE_ID_LIMIT
        else:
            kept = random.random() < self.ratio  # noqa: S311 - sampling, not security
        return (self._writer, span_context) if kept else None


def service_access_log(
    ratio: float, resource: Resource, logger_provider: LoggerProvider | None
) -> AccessLog:
    """ACCESS_LOG's lines for the service `resource` names, also sent to `logger_provider`."""
    writer = AccessLineWriter(
        str(resource.attributes.get(SERVICE_NAME)), logger_provider=logger_provider
    )
    return AccessLog(ratio, writer)
