"""A minimal OTLP receiver on loopback: keeps the metrics, spans and logs pushed to it.

OTLP/gRPC (`running_receiver`), and OTLP/HTTP with protobuf bodies
(`serving_otlp_http`, for exporters that speak only HTTP, such as the
collector's exporter to Loki).

Enough of a collector for tests and benchmarks that run the services with
`OTEL_*_EXPORTER=otlp` and need somewhere real to send to (and to read back
what arrived), without building or configuring an OpenTelemetry Collector.
Everything received is kept in memory (use it for bounded runs only), unless
it is made with `keep=False`, as `python -m otel_stack.harness.otlp_receiver PORT
[HTTP_PORT]` does (OTLP/gRPC on PORT, OTLP/HTTP on HTTP_PORT): the benchmarks run
it that way (`process_spec`), as a process of its own, so the cost of receiving
spans is not charged to the services or to the load generator.
"""

from __future__ import annotations

import gzip
import http.server
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME

from otel_stack.harness import processes
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.readiness import listening
from services.startup import wait_for_stop

METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
MAX_HTTP_BODY_BYTES = 16 * 1024 * 1024
PROCESS_NAME = "otlp-receiver"


_Request = TypeVar(
    "_Request", ExportMetricsServiceRequest, ExportTraceServiceRequest, ExportLogsServiceRequest
)


class OtlpReceiver:
    """Keeps every export request it receives (with `keep=False`, none: it only accepts them)."""

    def __init__(self, *, keep: bool = True) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.metric_requests: list[ExportMetricsServiceRequest] = []
        self.trace_requests: list[ExportTraceServiceRequest] = []
        self.log_requests: list[ExportLogsServiceRequest] = []

    def export_metrics(
        self, request: ExportMetricsServiceRequest, _context: grpc.ServicerContext | None = None
    ) -> ExportMetricsServiceResponse:
        """MetricsService/Export: keep the request."""
        self._kept(self.metric_requests, request)
        return ExportMetricsServiceResponse()

    def export_traces(
        self, request: ExportTraceServiceRequest, _context: grpc.ServicerContext | None = None
    ) -> ExportTraceServiceResponse:
        """TraceService/Export: keep the request."""
        self._kept(self.trace_requests, request)
        return ExportTraceServiceResponse()

    def export_logs(
        self, request: ExportLogsServiceRequest, _context: grpc.ServicerContext | None = None
    ) -> ExportLogsServiceResponse:
        """LogsService/Export: keep the request."""
        self._kept(self.log_requests, request)
        return ExportLogsServiceResponse()

    def _kept(self, requests: list[_Request], request: _Request) -> None:
        if self._keep:
            with self._lock:
                requests.append(request)

    def metrics(self, service_name: str) -> dict[str, metrics_pb2.Metric]:
        """The latest export of each metric from one service (cumulative, so latest is total)."""
        latest: dict[str, metrics_pb2.Metric] = {}
        with self._lock:
            requests = list(self.metric_requests)
        for request in requests:
            for resource_metrics in request.resource_metrics:
                if _service_name(resource_metrics.resource.attributes) != service_name:
                    continue
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        latest[metric.name] = metric
        return latest

    def spans(self, service_name: str) -> list[trace_pb2.Span]:
        """Every span received from one service."""
        spans: list[trace_pb2.Span] = self._items(
            self.trace_requests, service_name, ("resource_spans", "scope_spans", "spans")
        )
        return spans

    def log_records(self, service_name: str) -> list[logs_pb2.LogRecord]:
        """Every log record received from one service."""
        records: list[logs_pb2.LogRecord] = self._items(
            self.log_requests, service_name, ("resource_logs", "scope_logs", "log_records")
        )
        return records

    def _items(
        self, requests: Sequence[_Request], service_name: str, path: tuple[str, str, str]
    ) -> list[Any]:
        """The items of one service in `requests`, found by field names: resource, scope, item."""
        resources, scopes, items = path
        with self._lock:
            kept = list(requests)
        return [
            item
            for request in kept
            for resource in getattr(request, resources)
            if _service_name(resource.resource.attributes) == service_name
            for scope in getattr(resource, scopes)
            for item in getattr(scope, items)
        ]

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """The gRPC handlers of the three OTLP services, bound to this receiver."""
        metrics = grpc.unary_unary_rpc_method_handler(
            self.export_metrics,
            request_deserializer=ExportMetricsServiceRequest.FromString,
            response_serializer=ExportMetricsServiceResponse.SerializeToString,
        )
        traces = grpc.unary_unary_rpc_method_handler(
            self.export_traces,
            request_deserializer=ExportTraceServiceRequest.FromString,
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
        logs = grpc.unary_unary_rpc_method_handler(
            self.export_logs,
            request_deserializer=ExportLogsServiceRequest.FromString,
            response_serializer=ExportLogsServiceResponse.SerializeToString,
        )
        return [
            grpc.method_handlers_generic_handler(METRICS_SERVICE, {"Export": metrics}),
            grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": traces}),
            grpc.method_handlers_generic_handler(LOGS_SERVICE, {"Export": logs}),
        ]


def counter_value(metric: metrics_pb2.Metric, **attributes: str) -> float:
    """The value of a sum metric's point with exactly these (string) attributes; 0 if none."""
    for point in metric.sum.data_points:
        if {a.key: a.value.string_value for a in point.attributes} == attributes:
            return float(point.as_int or point.as_double)
    return 0.0


def _service_name(attributes: Iterable[KeyValue]) -> str:
    for attribute in attributes:
        if attribute.key == SERVICE_NAME:
            return str(attribute.value.string_value)
    return ""


@contextmanager
def running_receiver(*, port: int = 0, keep: bool = True) -> Iterator[tuple[OtlpReceiver, int]]:
    """Start a receiver on a loopback port (0: a free one); yield it and the port."""
    receiver = OtlpReceiver(keep=keep)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=receiver.handlers())
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    if port == 0:
        raise OSError("cannot listen on the requested loopback port")
    server.start()
    try:
        yield receiver, port
    finally:
        server.stop(None)


@contextmanager
def serving_otlp_http(receiver: OtlpReceiver, *, port: int = 0) -> Iterator[int]:
    """Serve OTLP/HTTP (`/v1/{traces,metrics,logs}`, protobuf, gzip or not) into `receiver`.

    Listens on a loopback port (0: a free one) until the block ends; yields the port.
    """
    routes: dict[str, Callable[[bytes], bytes]] = {
        "/v1/traces": lambda body: receiver.export_traces(
            ExportTraceServiceRequest.FromString(body)
        ).SerializeToString(),
        "/v1/metrics": lambda body: receiver.export_metrics(
            ExportMetricsServiceRequest.FromString(body)
        ).SerializeToString(),
        "/v1/logs": lambda body: receiver.export_logs(
            ExportLogsServiceRequest.FromString(body)
        ).SerializeToString(),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            route = routes.get(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if route is None or not 0 < length <= MAX_HTTP_BODY_BYTES:
                self.send_error(404 if route is None else 413)
                return
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            answer = route(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="otlp-http", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def process_spec(
    directory: Path, grpc_port: int, http_port: int | None = None
) -> processes.ServiceSpec:
    """The receiver as a process of its own, discarding what it receives; logs in `directory`."""
    ports = [grpc_port] if http_port is None else [grpc_port, http_port]
    return processes.ServiceSpec(
        name=PROCESS_NAME,
        command=[*processes.module_command(__name__), *map(str, ports)],
        env=child_environ(),
        log_path=directory / f"{PROCESS_NAME}.log",
        ready=lambda: all(listening("127.0.0.1", port) for port in ports),
        ready_description=" and ".join(f"127.0.0.1:{port}" for port in ports)
        + " accepting connections",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Accept and discard OTLP/gRPC (and OTLP/HTTP) exports until SIGTERM or SIGINT."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2 or not all(_is_port(arg) for arg in args):
        print("usage: python -m otel_stack.harness.otlp_receiver PORT [HTTP_PORT]", file=sys.stderr)
        return 2
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    try:
        with running_receiver(port=int(args[0]), keep=False) as (receiver, _), ExitStack() as http:
            if len(args) == 2:
                http.enter_context(serving_otlp_http(receiver, port=int(args[1])))
            wait_for_stop(stopping)
    except OSError as error:
        print(f"otlp-receiver: {error}", file=sys.stderr)
        return 1
    return 0


def _is_port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


if __name__ == "__main__":
    raise SystemExit(main())
