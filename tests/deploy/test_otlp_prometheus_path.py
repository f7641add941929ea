"""End to end on the third path: the services push OTLP straight into a real Prometheus 3.15.1.

Prometheus runs with its OTLP receiver and the project's rules, as
`otel-stack up --otlp-prometheus` runs it; both services run under the launcher
pushing every second over OTLP/HTTP with exponential histograms (and keep their
own `/metrics`, to compare with). After the known request mix, the checks of the
other paths hold here too (exact counts, every rule healthy, data for every
dashboard query), and the semantic-convention durations are native histograms
whose counts and sums are exactly the requests'.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel.histogram_aggregation import EXPONENTIAL
from otel.histogram_aggregation import VARIABLE as HISTOGRAM_AGGREGATION
from otel.instruments import DURATION_BUCKETS
from otel_stack.harness.local_prometheus import rule_files
from otel_stack.harness.scrape import scrape
from tests.deploy.dashboards import native_dashboard_path, service_dashboard_paths
from tests.deploy.promql import NATIVE_HISTOGRAMS, metric_names
from tests.deploy.stack_files import load_yaml
from tests.support import prometheus_expectations as checks
from tests.support.known_traffic import send_known_mix
from tests.support.otlp_prometheus import OtlpPrometheusPath, running_otlp_prometheus_path
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus

SERVICE_ENVIRON = {
    "ORDER_API_FAULTS": checks.FAULTS,
    # Pushed to Prometheus, and served on /metrics to compare with (and for the mix's scrapes).
    "OTEL_METRICS_EXPORTER": "otlp,prometheus",
    HISTOGRAM_AGGREGATION: EXPONENTIAL,
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e",
}
NATIVE_RULES = Path(rule_files()[0]).with_name("native.yml")


def _pushed_after_the_mix(prometheus: Prometheus) -> bool:
    # The mix's last request (BREW) and its last RPC (ListOrders) arrived.
    gateway = checks.values(prometheus, 'http_requests_total{method="_OTHER"}', ())
    order_api = checks.values(prometheus, 'grpc_requests_total{method="ListOrders"}', ())
    return bool(gateway.get(()) and order_api.get(()))


def _recorded_everything(prometheus: Prometheus) -> bool:
    records = [
        rule["record"]
        for group in load_yaml(NATIVE_RULES)["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    return all(prometheus.query(record) for record in records)


def _series_with_one_sample(prometheus: Prometheus) -> list[dict[str, str]]:
    last_minute = prometheus.query('{__name__=~".+"}[1m]')
    # Native histograms' samples are under "histograms", the others' under "values".
    return [
        series["metric"]
        for series in last_minute
        if len(series.get("values", [])) + len(series.get("histograms", [])) < 2
    ]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OtlpPrometheusPath]:
    tmp: Path = tmp_path_factory.mktemp("otlp-prometheus-path")
    with running_otlp_prometheus_path(tmp, SERVICE_ENVIRON, rule_files=rule_files()) as path:
        prometheus = path.prometheus.api
        send_known_mix(path.stack, list_status=checks.LIST_STATUS)
        wait_until(lambda: _pushed_after_the_mix(prometheus), 30, "the mix's metrics")
        # Two more exports, so every series holds its final value and has a rate.
        wait_until(lambda: _recorded_everything(prometheus), 30, "every native rule recorded")
        # A rate needs two samples: a series first pushed late (on a busy machine) has one.
        wait_until(lambda: not _series_with_one_sample(prometheus), 30, "two samples per series")
        yield path


def test_gateway_counts_pushed_to_prometheus_are_exact(observed: OtlpPrometheusPath) -> None:
    assert checks.gateway_counts(observed.prometheus.api) == checks.expected_gateway_counts()


def test_order_api_counts_pushed_to_prometheus_are_exact(observed: OtlpPrometheusPath) -> None:
    prometheus = observed.prometheus.api
    assert checks.order_api_counts(prometheus) == checks.expected_order_api_counts()
    assert checks.orders_created(prometheus) == {(): 3}


def test_semconv_durations_are_native_histograms(observed: OtlpPrometheusPath) -> None:
    for name in NATIVE_HISTOGRAMS:
        series = observed.prometheus.api.query(name)
        assert series, name
        assert all("histogram" in one for one in series), name
        assert not observed.prometheus.api.query(f"{name}_bucket"), name


def test_native_counts_and_sums_equal_the_requests(observed: OtlpPrometheusPath) -> None:
    prometheus = observed.prometheus.api
    counts = checks.values(
        prometheus,
        "sum by (rpc_method, rpc_response_status_code)"
        ' (histogram_count(rpc_server_call_duration_seconds{job="order-api"}))',
        ("rpc_method", "rpc_response_status_code"),
    )
    by_method = {
        (method.rpartition("/")[2], code): count for (method, code), count in counts.items()
    }
    assert by_method == checks.expected_order_api_counts()
    # One measurement feeds both the native histogram and the contract's classic one.
    native_sum = _scalar(
        prometheus, 'sum(histogram_sum(rpc_server_call_duration_seconds{job="order-api"}))'
    )
    classic_sum = _scalar(prometheus, 'sum(grpc_request_duration_seconds_sum{job="order-api"})')
    assert math.isclose(native_sum, classic_sum, rel_tol=1e-9), (native_sum, classic_sum)


def test_contract_histograms_keep_the_seed_buckets(observed: OtlpPrometheusPath) -> None:
    for name in ("http_request_duration_seconds", "grpc_request_duration_seconds"):
        # Pushed `le` values are written as OTLP gave them ("1", not the scrape's "1.0").
        bounds = {
            float(series["metric"]["le"])
            for series in observed.prometheus.api.query(f"{name}_bucket")
        }
        assert bounds == {*DURATION_BUCKETS, math.inf}, name


def test_the_pull_path_of_the_same_run_stays_classic(observed: OtlpPrometheusPath) -> None:
    exposition = scrape(observed.stack.order_api_metrics_url)
    assert (
        exposition.le_bounds(
            "rpc_server_call_duration_seconds",
            rpc_system_name="grpc",
            rpc_method="orders.v1.OrderService/GetOrder",
            rpc_response_status_code="OK",
        )[0]
        == "0.005"
    )


def test_job_and_instance_are_service_name_and_instance_id(observed: OtlpPrometheusPath) -> None:
    pushed = checks.values(
        observed.prometheus.api,
        'target_info{job=~"web-gateway|order-api"}',
        ("job", "instance", "service_name", "service_instance_id"),
    )
    own = {
        (labels["service_name"], labels["service_instance_id"])
        for url in (observed.stack.gateway_url + "/metrics", observed.stack.order_api_metrics_url)
        for labels in [scrape(url).samples("target_info")[0].labels]
    }
    assert {(job, instance) for job, instance, _, _ in pushed} == own
    assert all(job == name and instance == uid for job, instance, name, uid in pushed)


def test_documented_resource_attributes_are_promoted_to_labels(
    observed: OtlpPrometheusPath,
) -> None:
    labelled = observed.prometheus.api.query(
        'count by (job) (http_requests_total{deployment_environment_name="e2e"})'
        ' or count by (job) (grpc_requests_total{deployment_environment_name="e2e"})'
    )
    assert {series["metric"]["job"] for series in labelled} == {"web-gateway", "order-api"}


def test_every_rule_group_loads_and_evaluates_healthy(observed: OtlpPrometheusPath) -> None:
    files, unhealthy = checks.unhealthy_rules(observed.prometheus.api)
    assert files == {"alerts.yml", "native.yml", "recording.yml"}
    assert unhealthy == []


def test_every_native_recording_rule_has_data(observed: OtlpPrometheusPath) -> None:
    assert _recorded_everything(observed.prometheus.api)


def test_every_native_dashboard_query_returns_data(observed: OtlpPrometheusPath) -> None:
    assert checks.empty_dashboard_queries(observed.prometheus.api, native_dashboard_path()) == []


@pytest.mark.parametrize("dashboard", service_dashboard_paths(), ids=lambda path: path.stem)
def test_classic_dashboards_lack_only_the_semconv_bucket_series(
    observed: OtlpPrometheusPath, dashboard: Path
) -> None:
    # Those histograms are native on this path: the native dashboard shows them instead.
    classic_series = {
        f"{name}{suffix}" for name in NATIVE_HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")
    }
    empty = checks.empty_dashboard_queries(observed.prometheus.api, dashboard)
    assert [query for query in empty if not set(metric_names(query)) & classic_series] == []


def test_the_receivers_own_metrics_are_scraped(observed: OtlpPrometheusPath) -> None:
    accepted = observed.prometheus.api.query(
        'prometheus_http_requests_total{job="prometheus",'
        ' handler="/api/v1/otlp/v1/metrics", code=~"2.."}'
    )
    assert accepted and float(accepted[0]["value"][1]) > 0


def _scalar(prometheus: Prometheus, expr: str) -> float:
    result = prometheus.query(expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])
