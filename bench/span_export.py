"""Suite 14: what exporting a recorded span costs, by OTLP protocol, compression and batch size.

The spans are the services' own: recorded by one gateway `GET /orders/<id>`
(the Flask server span and the gRPC client span) and one order-api `GetOrder`
(the gRPC server span) at a time, built as suite 13 builds them, every trace
sampled. Each variant exports the same batches to the OTLP receiver running
as a process of its own (so receiving costs nothing here), the variants taking
turns round by round; CPU µs of this process per span (gRPC's and the
exporters' threads count). `encode` is the protobuf encoding alone, which
every variant does first. The batch processor's default batch is 512 spans
(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`); a service at a few hundred requests per
second fills one every second or two, a quiet one exports smaller batches at
each schedule (`OTEL_BSP_SCHEDULE_DELAY`, 5 s), hence the batch of 64.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench import profiles
from bench.measure import per_call
from bench.rpc_path import one_order_servicer
from otel_stack.harness import otlp_receiver, processes
from otel_stack.harness.running import free_ports

BATCH = 512  # the batch span processor's default OTEL_BSP_MAX_EXPORT_BATCH_SIZE
SMALL_BATCH = 64
SIDES = ("gateway", "rpc")

VARIANTS = ("encode", "grpc", "grpc_gzip", "grpc_batch_64", "http", "http_gzip")


def recorded_spans(side: str, count: int) -> list[ReadableSpan]:
    """`count` spans as the gateway (side `gateway`) or the order-api (`rpc`) records them."""
    kept = InMemorySpanExporter()
    with one_order_servicer() as (servicer, request):
        service = "web-gateway" if side == "gateway" else "order-api"
        telemetry, provider = profiles.telemetry_for("every_trace", service)
        assert provider is not None
        provider.add_span_processor(SimpleSpanProcessor(kept))
        call: Callable[[], object] = (
            profiles.gateway_request(telemetry)
            if side == "gateway"
            else profiles.rpc_call(telemetry, servicer, request, "01")
        )
        while len(kept.get_finished_spans()) < count:
            call()
        provider.shutdown()
    return list(kept.get_finished_spans()[:count])


def run(quick: bool) -> dict[str, Any]:
    """CPU µs per exported span of each variant, for the gateway's and the order-api's spans."""
    with tempfile.TemporaryDirectory(prefix="bench-span-export-") as scratch:
        grpc_port, http_port = free_ports(2)
        receiver = processes.start(otlp_receiver.process_spec(Path(scratch), grpc_port, http_port))
        try:
            with _exporters(grpc_port, http_port) as exporters:
                return _measure(exporters, quick)
        finally:
            receiver.stop(grace=10.0)


@contextmanager
def _exporters(grpc_port: int, http_port: int) -> Iterator[dict[str, SpanExporter]]:
    grpc_endpoint = f"127.0.0.1:{grpc_port}"
    http_endpoint = f"http://127.0.0.1:{http_port}/v1/traces"
    exporters: dict[str, SpanExporter] = {
        "grpc": GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True),
        "grpc_gzip": GrpcSpanExporter(
            endpoint=grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip
        ),
        "http": HttpSpanExporter(endpoint=http_endpoint),
        "http_gzip": HttpSpanExporter(endpoint=http_endpoint, compression=HttpCompression.Gzip),
    }
    try:
        yield exporters
    finally:
        for exporter in exporters.values():
            exporter.shutdown()


def _measure(exporters: dict[str, SpanExporter], quick: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {"batch": BATCH, "small_batch": SMALL_BATCH}
    for side in SIDES:
        spans = recorded_spans(side, BATCH)
        small = [spans[start : start + SMALL_BATCH] for start in range(0, BATCH, SMALL_BATCH)]
        variants: dict[str, Callable[[], object]] = {
            "encode": _encoding(spans),
            **{name: _exporting(exporter, [spans]) for name, exporter in exporters.items()},
            "grpc_batch_64": _exporting(exporters["grpc"], small),
        }
        results = per_call(variants, calls=1, rounds=9 if quick else 31, warmup=3)
        figures[side] = {
            "cpu_us_per_span": {name: results[name].median_us / BATCH for name in VARIANTS},
            "attributes_per_span": sum(len(span.attributes or {}) for span in spans) / BATCH,
            "encoded_bytes_per_span": len(encode_spans(spans).SerializeToString()) / BATCH,
        }
    return figures


def _encoding(spans: Sequence[ReadableSpan]) -> Callable[[], bytes]:
    """Encode the spans as the OTLP exporters do before sending them."""
    return lambda: encode_spans(spans).SerializeToString()


def _exporting(
    exporter: SpanExporter, batches: Sequence[Sequence[ReadableSpan]]
) -> Callable[[], None]:
    """Export every batch; a failed export ends the run (a figure of failures would mislead)."""

    def export() -> None:
        for batch in batches:
            if exporter.export(batch) is not SpanExportResult.SUCCESS:
                raise RuntimeError(f"{type(exporter).__module__}: export failed")

    return export
