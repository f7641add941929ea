"""What the OTLP receiver keeps of the exports it accepts (otel_stack/harness/otlp_receiver.py)."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_stack.harness.otlp_receiver import OtlpReceiver


def _export_one_of_each(receiver: OtlpReceiver) -> None:
    receiver.export_metrics(ExportMetricsServiceRequest())
    receiver.export_traces(ExportTraceServiceRequest())
    receiver.export_logs(ExportLogsServiceRequest())


def test_a_receiver_keeps_every_request_of_every_signal() -> None:
    receiver = OtlpReceiver()
    _export_one_of_each(receiver)
    kept = (receiver.metric_requests, receiver.trace_requests, receiver.log_requests)
    assert [len(requests) for requests in kept] == [1, 1, 1]


def test_a_receiver_made_not_to_keep_keeps_no_request_of_any_signal() -> None:
    receiver = OtlpReceiver(keep=False)
    _export_one_of_each(receiver)
    kept = (receiver.metric_requests, receiver.trace_requests, receiver.log_requests)
    assert [len(requests) for requests in kept] == [0, 0, 0]
