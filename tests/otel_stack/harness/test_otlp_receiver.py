"""What the OTLP receiver keeps of the exports it accepts (otel_stack/harness/otlp_receiver.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_stack.harness import otlp_receiver, processes
from otel_stack.harness.otlp_receiver import OtlpReceiver
from otel_stack.harness.running import free_ports


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


def test_the_receiver_process_accepts_exports_over_grpc_and_http(tmp_path: Path) -> None:
    grpc_port, http_port = free_ports(2)
    service = processes.start(otlp_receiver.process_spec(tmp_path, grpc_port, http_port))
    try:
        span = _one_span()
        exporters = (
            GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True, timeout=5),
            HttpSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces", timeout=5),
        )
        for exporter in exporters:
            assert exporter.export([span]) is SpanExportResult.SUCCESS
            exporter.shutdown()
    finally:
        service.stop(grace=10.0)
    assert service.process.returncode == 0


@pytest.mark.parametrize("args", [[], ["http"], ["1", "2", "3"], ["70000"]])
def test_the_receiver_refuses_other_arguments_with_its_usage(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert otlp_receiver.main(args) == 2
    assert capsys.readouterr().err.startswith("usage: python -m otel_stack.harness.otlp_receiver")


def _one_span() -> ReadableSpan:
    kept = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    provider.get_tracer("test").start_span("one").end()
    (span,) = kept.get_finished_spans()
    return span
