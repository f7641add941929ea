"""`otel.exemplars`: the exemplar filter, and exemplars on the Prometheus exposition's buckets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.samples import Sample

from otel.exemplars import ExemplarPrometheusReader, exemplar_filter
from otel.instruments import HttpServerMetrics
from otel.prometheus import render
from otel.settings import ConfigError, exemplar_filter_name
from otel.views import default_views
from otel_stack.harness.scrape import OPENMETRICS_FORMAT, Exposition


@dataclass
class Exposed:
    """A meter provider read by the exemplar reader, and the registry it serves."""

    provider: MeterProvider
    registry: CollectorRegistry
    tracer_provider: TracerProvider

    def buckets(self, family_name: str) -> list[Sample]:
        """The `_bucket` samples of one family in an OpenMetrics scrape."""
        body, _ = render(self.registry, OPENMETRICS_FORMAT)
        return Exposition.parse(body.decode(), openmetrics=True).samples(family_name + "_bucket")


@pytest.fixture
def exposed() -> Iterator[Exposed]:
    registry = CollectorRegistry()
    reader = ExemplarPrometheusReader(scope_info_enabled=False, registry=registry)
    provider = MeterProvider(
        metric_readers=[reader], views=default_views(), exemplar_filter=TraceBasedExemplarFilter()
    )
    tracer_provider = TracerProvider()
    yield Exposed(provider, registry, tracer_provider)
    provider.shutdown()
    tracer_provider.shutdown()


def _ids(span: Span) -> dict[str, str]:
    context = span.get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def test_a_traced_request_puts_its_trace_on_the_bucket_it_fell_in(exposed: Exposed) -> None:
    metrics = HttpServerMetrics(exposed.provider)
    with exposed.tracer_provider.get_tracer("t").start_as_current_span("GET /orders") as span:
        metrics.record("GET", "/orders", 200, 0.05)

    buckets = exposed.buckets("http_request_duration_seconds")
    with_exemplar = [s for s in buckets if s.exemplar is not None]
    assert len(with_exemplar) == 1
    bucket = with_exemplar[0]
    assert bucket.labels == {"method": "GET", "route": "/orders", "status_code": "200", "le": "0.1"}
    assert bucket.exemplar is not None and bucket.exemplar.labels == _ids(span)
    assert bucket.exemplar.value == pytest.approx(0.05)


def test_the_slowest_bucket_gets_the_slow_request(exposed: Exposed) -> None:
    metrics = HttpServerMetrics(exposed.provider)
    tracer = exposed.tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("fast"):
        metrics.record("GET", "/orders", 200, 0.0005)
    with tracer.start_as_current_span("slow") as slow:
        metrics.record("GET", "/orders", 200, 7.0)

    by_le = {s.labels["le"]: s.exemplar for s in exposed.buckets("http_request_duration_seconds")}
    assert by_le["+Inf"] is not None and by_le["+Inf"].labels == _ids(slow)
    assert by_le["0.001"] is not None
    assert by_le["0.01"] is None


def test_a_bucket_keeps_its_exemplar_for_every_scraper_until_a_newer_one(
    exposed: Exposed,
) -> None:
    metrics = HttpServerMetrics(exposed.provider)
    tracer = exposed.tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("first") as first:
        metrics.record("GET", "/orders", 200, 0.05)
    assert [
        s.exemplar.labels for s in exposed.buckets("http_request_duration_seconds") if s.exemplar
    ] == [_ids(first)]
    assert [
        s.exemplar.labels for s in exposed.buckets("http_request_duration_seconds") if s.exemplar
    ] == [_ids(first)]

    with tracer.start_as_current_span("second") as second:
        metrics.record("GET", "/orders", 200, 0.06)
    assert [
        s.exemplar.labels for s in exposed.buckets("http_request_duration_seconds") if s.exemplar
    ] == [_ids(second)]


def test_exemplars_reach_histograms_whose_unit_prometheus_client_appends(
    exposed: Exposed,
) -> None:
    histogram = exposed.provider.get_meter("t").create_histogram("probe.wait", unit="s")
    with exposed.tracer_provider.get_tracer("t").start_as_current_span("probe") as span:
        histogram.record(0.2, {"rpc.method": "Get", "ok": True})

    buckets = exposed.buckets("probe_wait_seconds")
    exemplars = [s.exemplar for s in buckets if s.exemplar is not None]
    assert [e.labels for e in exemplars] == [_ids(span)]


def test_an_untraced_or_unsampled_request_has_no_exemplar(exposed: Exposed) -> None:
    metrics = HttpServerMetrics(exposed.provider)
    metrics.record("GET", "/orders", 200, 0.05)
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    with unsampled.get_tracer("t").start_as_current_span("dropped"):
        metrics.record("GET", "/orders", 200, 0.05)

    assert all(s.exemplar is None for s in exposed.buckets("http_request_duration_seconds"))


def test_the_classic_text_format_is_what_the_upstream_reader_gives() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    provider = MeterProvider(
        metric_readers=[
            ExemplarPrometheusReader(scope_info_enabled=False, registry=ours),
            PrometheusMetricReader(scope_info_enabled=False, registry=theirs),
        ],
        views=default_views(),
        exemplar_filter=AlwaysOnExemplarFilter(),
    )
    tracer_provider = TracerProvider()
    metrics = HttpServerMetrics(provider)
    with tracer_provider.get_tracer("t").start_as_current_span("traced"):
        for status, seconds in ((200, 0.003), (404, 0.02), (200, 3.0)):
            metrics.record("GET", "/orders/<order_id>", status, seconds)

    text = generate_latest(ours).decode()
    assert "trace_id" not in text
    assert text == generate_latest(theirs).decode()
    provider.shutdown()


def test_shutdown_unregisters_the_reader_from_the_registry() -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[ExemplarPrometheusReader(registry=registry)])
    provider.get_meter("t").create_counter("probe").add(1)
    provider.shutdown()
    assert generate_latest(registry) == b""


@pytest.mark.parametrize(
    ("environ", "tracing", "expected"),
    [
        ({}, True, TraceBasedExemplarFilter),
        ({}, False, AlwaysOffExemplarFilter),
        ({"OTEL_METRICS_EXEMPLAR_FILTER": "always_on"}, False, AlwaysOnExemplarFilter),
        ({"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"}, True, AlwaysOffExemplarFilter),
        ({"OTEL_METRICS_EXEMPLAR_FILTER": " Trace_Based "}, False, TraceBasedExemplarFilter),
    ],
)
def test_the_filter_follows_tracing_unless_the_standard_variable_names_one(
    environ: dict[str, str], tracing: bool, expected: type
) -> None:
    assert isinstance(exemplar_filter(exemplar_filter_name(environ), tracing), expected)


def test_an_unknown_filter_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_METRICS_EXEMPLAR_FILTER='sometimes'"):
        exemplar_filter_name({"OTEL_METRICS_EXEMPLAR_FILTER": "sometimes"})
