"""A minimal OTLP/gRPC receiver on loopback: keeps the metrics and spans services push to it.

Enough of a collector for tests and benchmarks that run the services with
`OTEL_*_EXPORTER=otlp` and need somewhere real to send to (and to read back
what arrived), without building or configuring an OpenTelemetry Collector.
Everything received is kept in memory (use it for bounded runs only), unless
it is made with `keep=False`, as `python -m services.stack.otlp_receiver PORT`
does: the benchmarks run it that way, as a process of its own, so the cost of
receiving spans is not charged to the services or to the load generator.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME

METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class OtlpReceiver:
    """Keeps every export request it receives (with `keep=False`, none: it only accepts them)."""

    def __init__(self, *, keep: bool = True) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.metric_requests: list[ExportMetricsServiceRequest] = []
        self.trace_requests: list[ExportTraceServiceRequest] = []

    def export_metrics(
        self, request: ExportMetricsServiceRequest, _context: grpc.ServicerContext
    ) -> ExportMetricsServiceResponse:
        """MetricsService/Export: keep the request."""
        if self._keep:
            with self._lock:
                self.metric_requests.append(request)
        return ExportMetricsServiceResponse()

    def export_traces(
        self, request: ExportTraceServiceRequest, _context: grpc.ServicerContext
    ) -> ExportTraceServiceResponse:
        """TraceService/Export: keep the request."""
        if self._keep:
            with self._lock:
                self.trace_requests.append(request)
        return ExportTraceServiceResponse()

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
        with self._lock:
            requests = list(self.trace_requests)
        return [
            span
            for request in requests
            for resource_spans in request.resource_spans
            if _service_name(resource_spans.resource.attributes) == service_name
            for scope in resource_spans.scope_spans
            for span in scope.spans
        ]

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """The gRPC handlers of both OTLP services, bound to this receiver."""
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
        return [
            grpc.method_handlers_generic_handler(METRICS_SERVICE, {"Export": metrics}),
            grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": traces}),
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


def main(argv: Sequence[str] | None = None) -> int:
    """Accept and discard OTLP/gRPC exports on 127.0.0.1:PORT until SIGTERM or SIGINT."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit() or not 0 < int(args[0]) < 65536:
        print("usage: python -m services.stack.otlp_receiver PORT", file=sys.stderr)
        return 2
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    try:
        with running_receiver(port=int(args[0]), keep=False):
            stopping.wait()
    except OSError as error:
        print(f"otlp-receiver: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
