"""End to end: services → the real collector → Prometheus' OTLP receiver (`otlp_http/prometheus`).

collector-config.yaml runs unchanged but for OTELCOL_METRICS_EXPORTER=otlp_http/prometheus
and OTELCOL_PROMETHEUS_OTLP_ENDPOINT, as compose offers it: the metrics pipeline
pushes into the tested Prometheus with its OTLP receiver instead of exposing them
for scraping. Both services push OTLP/gRPC to the collector with exponential
histograms. After the known mix: exact counts per label set, `job`/`instance`
from the services' resources, native histograms whose counts are the RPCs, and
every rule healthy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel.histogram_aggregation import EXPONENTIAL
from otel.histogram_aggregation import VARIABLE as HISTOGRAM_AGGREGATION
from otel_stack.harness.local_collector import METRICS_EXPORTER_VARIABLE, PUSHED_METRICS_EXPORTER
from otel_stack.harness.local_prometheus import rule_files
from otel_stack.harness.otlp_receiver import running_receiver
from otel_stack.harness.running import Stack, running_stack
from otel_stack.harness.scrape import scrape
from tests.support import prometheus_expectations as checks
from tests.support.collector import running_collector
from tests.support.known_traffic import send_known_mix
from tests.support.otlp_prometheus import running_receiving_prometheus
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus

SERVICE_ENVIRON = {
    "ORDER_API_FAULTS": checks.FAULTS,
    # Pushed to the collector; /metrics kept for the mix's scrapes and to compare with.
    "OTEL_METRICS_EXPORTER": "otlp,prometheus",
    HISTOGRAM_AGGREGATION: EXPONENTIAL,
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
}


@dataclass(frozen=True)
class Observed:
    stack: Stack
    prometheus: Prometheus


def _pushed_after_the_mix(prometheus: Prometheus) -> bool:
    gateway = checks.values(prometheus, 'http_requests_total{method="_OTHER"}', ())
    order_api = checks.values(prometheus, 'grpc_requests_total{method="ListOrders"}', ())
    return bool(gateway.get(()) and order_api.get(()))


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp: Path = tmp_path_factory.mktemp("collector-otlp-prometheus")
    with (
        running_receiving_prometheus(tmp / "prometheus", rule_files=rule_files()) as receiving,
        running_receiver() as (_traces, traces_port),
        running_collector(
            tmp / "collector",
            traces_endpoint=f"127.0.0.1:{traces_port}",
            environ={
                METRICS_EXPORTER_VARIABLE: PUSHED_METRICS_EXPORTER,
                "OTELCOL_PROMETHEUS_OTLP_ENDPOINT": f"{receiving.url}/api/v1/otlp",
            },
        ) as collector,
    ):
        environ = {**SERVICE_ENVIRON, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.ports.otlp_endpoint}
        (tmp / "services").mkdir()
        with running_stack(tmp / "services", launcher=True, environ=environ) as stack:
            prometheus = receiving.api
            send_known_mix(stack, list_status=checks.LIST_STATUS)
            wait_until(lambda: _pushed_after_the_mix(prometheus), 30, "the mix's metrics")
            wait_until(
                lambda: (
                    checks.gateway_counts(prometheus) == checks.expected_gateway_counts()
                    and checks.order_api_counts(prometheus) == checks.expected_order_api_counts()
                ),
                30,
                "the mix's final counts",
            )
            yield Observed(stack, prometheus)


def test_gateway_counts_through_the_collector_into_prometheus_are_exact(
    observed: Observed,
) -> None:
    assert checks.gateway_counts(observed.prometheus) == checks.expected_gateway_counts()


def test_order_api_counts_through_the_collector_into_prometheus_are_exact(
    observed: Observed,
) -> None:
    assert checks.order_api_counts(observed.prometheus) == checks.expected_order_api_counts()
    assert checks.orders_created(observed.prometheus) == {(): 3}


def test_job_and_instance_are_service_name_and_instance_id(observed: Observed) -> None:
    own = {
        (labels["service_name"], labels["service_instance_id"])
        for url in (observed.stack.gateway_url + "/metrics", observed.stack.order_api_metrics_url)
        for labels in [scrape(url).samples("target_info")[0].labels]
    }
    pushed = checks.values(
        observed.prometheus, 'target_info{job=~"web-gateway|order-api"}', ("job", "instance")
    )
    assert set(pushed) == own


def test_the_rpc_histogram_arrives_native_with_the_rpc_counts(observed: Observed) -> None:
    counted = checks.values(
        observed.prometheus,
        "sum by (rpc_method, rpc_response_status_code)"
        ' (histogram_count(rpc_server_call_duration_seconds{job="order-api"}))',
        ("rpc_method", "rpc_response_status_code"),
    )
    by_method = {(m.rpartition("/")[2], code): n for (m, code), n in counted.items()}
    assert by_method == checks.expected_order_api_counts()


def test_every_rule_group_loads_and_evaluates_healthy(observed: Observed) -> None:
    files, unhealthy = checks.unhealthy_rules(observed.prometheus)
    assert files == {"alerts.yml", "native.yml", "recording.yml"}
    assert unhealthy == []
