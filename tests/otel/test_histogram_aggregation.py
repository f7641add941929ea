"""`otel.histogram_aggregation`: which histograms become exponential, on which reader.

In process, the project's instruments and Views with an in-memory reader that
aggregates as the OTLP exporter is told to, beside the Prometheus pull reader;
as processes, an unknown value stopping both services in both start paths.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Histogram,
    InMemoryMetricReader,
    Metric,
)
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel.exemplars import ExemplarPrometheusReader
from otel.histogram_aggregation import (
    EXPLICIT,
    EXPONENTIAL,
    VARIABLE,
    otlp_preferred_aggregation,
)
from otel.instruments import (
    DURATION_BUCKETS,
    HttpServerMetrics,
    RpcClientMetrics,
    RpcServerMetrics,
)
from otel.settings import ConfigError, TelemetrySettings, histogram_aggregation_name
from otel.views import default_views
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import launcher_path
from tests.support import REPO

CONTRACT = ("http.request.duration", "grpc.request.duration")
SEMCONV = ("rpc.server.call.duration", "rpc.client.call.duration")


def test_unset_means_explicit_buckets() -> None:
    assert histogram_aggregation_name({}) == EXPLICIT
    assert TelemetrySettings.from_env({}).histogram_aggregation == EXPLICIT


def test_the_exponential_value_is_read_with_the_other_settings() -> None:
    settings = TelemetrySettings.from_env({VARIABLE: EXPONENTIAL})
    assert settings.histogram_aggregation == EXPONENTIAL


def test_an_unknown_value_names_the_variable_and_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as error:
        TelemetrySettings.from_env({VARIABLE: "exponential"})
    assert str(error.value) == (
        f"{VARIABLE}='exponential': unknown aggregation (valid: {EXPLICIT}, {EXPONENTIAL})"
    )


def _record_everything(provider: MeterProvider) -> None:
    HttpServerMetrics(provider).record("GET", "/orders", 200, 0.004)
    rpc_server = RpcServerMetrics(provider, ["GetOrder"])
    rpc_server.record("orders.v1.OrderService", "GetOrder", "OK", 0.002)
    RpcClientMetrics(provider).record("orders.v1.OrderService/GetOrder", "OK", 0.003)


def _metrics(reader: InMemoryMetricReader) -> dict[str, Metric]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


@pytest.fixture
def exponential() -> Iterator[tuple[InMemoryMetricReader, CollectorRegistry]]:
    """A provider with an OTLP-like reader asked for exponential histograms, and a pull reader."""
    pushed = InMemoryMetricReader(preferred_aggregation=otlp_preferred_aggregation(EXPONENTIAL))
    registry = CollectorRegistry()
    pulled = ExemplarPrometheusReader(scope_info_enabled=False, registry=registry)
    provider = MeterProvider(metric_readers=[pushed, pulled], views=default_views())
    _record_everything(provider)
    yield pushed, registry
    provider.shutdown()


def test_semconv_durations_are_pushed_as_exponential_histograms(
    exponential: tuple[InMemoryMetricReader, CollectorRegistry],
) -> None:
    metrics = _metrics(exponential[0])
    for name in SEMCONV:
        assert isinstance(metrics[name].data, ExponentialHistogram), name


def test_contract_histograms_keep_the_seed_buckets_when_exponential_is_asked_for(
    exponential: tuple[InMemoryMetricReader, CollectorRegistry],
) -> None:
    metrics = _metrics(exponential[0])
    for name in CONTRACT:
        data = metrics[name].data
        assert isinstance(data, Histogram), name
        assert tuple(data.data_points[0].explicit_bounds) == DURATION_BUCKETS, name


def test_the_pull_reader_keeps_explicit_buckets_for_every_histogram(
    exponential: tuple[InMemoryMetricReader, CollectorRegistry],
) -> None:
    families = {
        family.name: family
        for family in text_string_to_metric_families(generate_latest(exponential[1]).decode())
    }
    expected_first_bound = {
        "http_request_duration_seconds": "0.001",
        "grpc_request_duration_seconds": "0.001",
        "rpc_server_call_duration_seconds": "0.005",
        "rpc_client_call_duration_seconds": "0.005",
    }
    for name, first_bound in expected_first_bound.items():
        bounds = [s.labels["le"] for s in families[name].samples if s.name.endswith("_bucket")]
        assert bounds[0] == first_bound and bounds[-1] == "+Inf", name


def test_explicit_keeps_the_advisory_buckets_on_the_push_side() -> None:
    pushed = InMemoryMetricReader(preferred_aggregation=otlp_preferred_aggregation(EXPLICIT))
    provider = MeterProvider(metric_readers=[pushed], views=default_views())
    _record_everything(provider)
    metrics = _metrics(pushed)
    provider.shutdown()
    for name in SEMCONV:
        data = metrics[name].data
        assert isinstance(data, Histogram), name
        assert data.data_points[0].explicit_bounds[0] == 0.005, name


# Each service once, and each start path once: both go through `otel.sdk.build_telemetry`.
@pytest.mark.parametrize(
    ("service", "launcher"),
    [("services.order_api", False), ("services.web_gateway", True)],
    ids=["order-api-in-process", "web-gateway-launcher"],
)
def test_an_unknown_value_stops_the_service_with_one_line(service: str, launcher: bool) -> None:
    command = [sys.executable, "-m", service]
    if launcher:
        command = [str(launcher_path()), *command]
    environ = child_environ(
        {
            VARIABLE: "exponential",
            "OTEL_METRICS_EXPORTER": "otlp",
            "ORDER_API_LISTEN": "127.0.0.1:0",
            "GATEWAY_LISTEN": "127.0.0.1:0",
            "ORDER_API_DB": ":memory:",
        }
    )
    result = subprocess.run(
        command, env=environ, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{VARIABLE}='exponential'" in lines[0]
