"""A test-owned OTLP/gRPC receiver: collects the metrics and spans services push to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


class OtlpReceiver(
    metrics_service_pb2_grpc.MetricsServiceServicer, trace_service_pb2_grpc.TraceServiceServicer
):
    """Keeps every export request it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request, context):  # type: ignore[no-untyped-def]
        with self._lock:
            if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
                self.metric_requests.append(request)
                return metrics_service_pb2.ExportMetricsServiceResponse()
            self.trace_requests.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

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


def _service_name(attributes: object) -> str:
    for attribute in attributes:  # type: ignore[attr-defined]
        if attribute.key == "service.name":
            return str(attribute.value.string_value)
    return ""


@contextmanager
def running_receiver() -> Iterator[tuple[OtlpReceiver, int]]:
    """Start a receiver on a free loopback port; yield it and the port."""
    receiver = OtlpReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(receiver, server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield receiver, port
    finally:
        server.stop(None)
