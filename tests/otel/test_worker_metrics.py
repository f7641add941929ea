"""`otel.worker_metrics`: each worker's series labelled and merged into one valid exposition.

Real registries behind real Unix sockets; the merged text is read back with
prometheus_client's own parsers (the classic one and the strict OpenMetrics one).
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import AlwaysOnExemplarFilter, MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import use_span
from prometheus_client import CollectorRegistry, Counter

from otel.exemplars import ExemplarPrometheusReader
from otel.prometheus import render
from otel.worker_metrics import (
    SUPERVISOR_SOCKET,
    ExpositionServer,
    MergedMetrics,
    merge,
    serve_http,
    worker_socket_name,
)
from otel_stack.harness.scrape import OPENMETRICS_FORMAT, TEXT_FORMAT, Exposition

TEXT_A = """# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{kind="a"} 3.0
jobs_total 1.0
# HELP up_now Gauge.
# TYPE up_now gauge
up_now 1.0
"""
TEXT_B = """# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{kind="a"} 5.0
# HELP only_b Only here.
# TYPE only_b gauge
only_b{} 2.0
"""


def test_each_family_appears_once_with_every_workers_samples_labelled() -> None:
    merged = merge([("0", TEXT_A), ("1", TEXT_B)], openmetrics=False)
    assert merged.count("# TYPE jobs_total counter") == 1
    families = Exposition.parse(merged)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.families
        for sample in family.samples
    }
    assert samples == {
        ("jobs_total", (("kind", "a"), ("worker", "0"))): 3.0,
        ("jobs_total", (("worker", "0"),)): 1.0,
        ("jobs_total", (("kind", "a"), ("worker", "1"))): 5.0,
        ("up_now", (("worker", "0"),)): 1.0,
        ("only_b", (("worker", "1"),)): 2.0,
    }


def test_a_part_without_a_label_keeps_its_samples_as_they_are() -> None:
    merged = merge([("0", TEXT_A), (None, "# TYPE own gauge\nown 7.0\n")], openmetrics=False)
    assert "\nown 7.0\n" in merged


def test_openmetrics_parts_merge_into_one_document_with_one_eof() -> None:
    part = "# HELP x Jobs.\n# TYPE x counter\nx_total 1.0\nx_created 1.7e9\n# EOF\n"
    merged = merge([("0", part), ("1", part)], openmetrics=True)
    assert merged.count("# EOF") == 1
    assert merged.endswith("# EOF\n")
    parsed = Exposition.parse(merged, openmetrics=True)
    assert parsed.counter("x_total", ("worker",)) == {("0",): 1.0, ("1",): 1.0}


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    """A short private directory: Unix socket paths are limited to about 100 bytes."""
    path = Path("/tmp") / f"wm-{tmp_path.name[-20:]}"
    path.mkdir(mode=0o700)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def _counting_registry(value: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("requests", "Requests.", ["route"], registry=registry).labels("/a").inc(value)
    return registry


def _serve(registry: CollectorRegistry, path: Path) -> ExpositionServer:
    return ExpositionServer(path, lambda accept: render(registry, accept))


def test_merged_metrics_asks_every_worker_socket_and_labels_each(directory: Path) -> None:
    servers = [
        _serve(_counting_registry(2), directory / worker_socket_name(0)),
        _serve(_counting_registry(3), directory / worker_socket_name(1)),
        _serve(_counting_registry(4), directory / SUPERVISOR_SOCKET),
    ]
    try:
        body, content_type = MergedMetrics(directory).render(TEXT_FORMAT)
    finally:
        for server in servers:
            server.stop()
    assert content_type.startswith("text/plain")
    parsed = Exposition.parse(body.decode())
    assert parsed.counter("requests_total", ("worker",)) == {("0",): 2, ("1",): 3, ("",): 4}


def test_openmetrics_negotiation_and_exemplars_pass_through(directory: Path) -> None:
    registry = CollectorRegistry()
    reader = ExemplarPrometheusReader(registry=registry, scope_info_enabled=False)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource({"service.name": "t", "service.instance.id": "w0"}),
        exemplar_filter=AlwaysOnExemplarFilter(),
    )
    tracer = TracerProvider().get_tracer("t")
    histogram = provider.get_meter("t").create_histogram("latency", unit="s")
    with tracer.start_as_current_span("request") as span, use_span(span):
        histogram.record(0.2)
    server = _serve(registry, directory / worker_socket_name(0))
    try:
        body, content_type = MergedMetrics(directory).render(OPENMETRICS_FORMAT)
        text_body, _ = MergedMetrics(directory).render(TEXT_FORMAT)
    finally:
        server.stop()
        provider.shutdown()
    assert content_type.startswith("application/openmetrics-text")
    parsed = Exposition.parse(body.decode(), openmetrics=True)
    exemplars = parsed.exemplars("latency_seconds", ("worker",))
    assert [exemplar.labels["trace_id"] for exemplar in exemplars[("0",)]] == [
        format(span.get_span_context().trace_id, "032x")
    ]
    assert parsed.label_sets("target_info") == [{"service_name": "t", "service_instance_id": "w0"}]
    assert parsed.samples("target_info")[0].labels["worker"] == "0"
    assert "# {" not in text_body.decode()  # the classic format has no exemplars


def test_a_worker_that_does_not_answer_is_left_out(directory: Path) -> None:
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    gone.bind(str(directory / worker_socket_name(1)))
    gone.close()  # a socket file nobody listens on: a killed worker's
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(directory / worker_socket_name(2)))
    silent.listen()  # accepts, never answers: a stuck worker
    server = _serve(_counting_registry(5), directory / worker_socket_name(0))
    try:
        body, _ = MergedMetrics(directory, timeout=0.5).render(TEXT_FORMAT)
    finally:
        server.stop()
        silent.close()
    parsed = Exposition.parse(body.decode())
    assert parsed.counter("requests_total", ("worker",)) == {("0",): 5}


def test_http_listener_answers_metrics_and_404_elsewhere(directory: Path) -> None:
    server = _serve(_counting_registry(1), directory / worker_socket_name(3))
    http = serve_http(MergedMetrics(directory).render, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http.port}/metrics") as answer:
            body = answer.read().decode()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{http.port}/other")
    finally:
        http.stop()
        server.stop()
    assert 'requests_total{worker="3",route="/a"} 1.0' in body
    assert missing.value.code == 404
