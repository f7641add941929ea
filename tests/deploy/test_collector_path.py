"""End to end through the real collector: services push over OTLP, Prometheus scrapes the collector.

Both services run under the launcher with `OTEL_METRICS_EXPORTER=otlp,prometheus`
(pushing every second, and keeping their own `/metrics` to compare with) and
`OTEL_TRACES_EXPORTER=otlp` and `OTEL_LOGS_EXPORTER=otlp`, all to the collector built
from otelcol/builder-config.yaml running collector-config.yaml unchanged. Its traces
and logs exporters point at a test OTLP receiver (the trace and log backends'
stand-in; logs arrive over OTLP/HTTP, as Loki takes them); Debian's
Prometheus scrapes it with the compose jobs `otel-collector` and
`otel-collector-internal`. After the known request mix, the checks of the
direct-scrape test must hold here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.proto.logs.v1 import logs_pb2
from prometheus_client.metrics_core import Metric

from otel_stack.deploy import prometheus_config
from otel_stack.harness.local_prometheus import rule_files
from otel_stack.harness.otlp_receiver import OtlpReceiver
from otel_stack.harness.running import Stack
from otel_stack.harness.scrape import Exposition, fetch, scrape
from tests.deploy.dashboards import classic_dashboard_paths
from tests.deploy.promql import (
    COLLECTOR_SERIES,
    FAILURE_ONLY_SERIES,
    GATEWAY_METRICS,
    ORDER_API_METRICS,
    RUNTIME_METRICS,
    metric_names,
)
from tests.support import prometheus_expectations as checks
from tests.support.collector import RunningCollector, running_collector_path
from tests.support.known_traffic import ORDER_API_COUNTS, send_known_mix
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus, wait_for_fresh_scrapes

JOBS = [prometheus_config.COLLECTOR_JOB, prometheus_config.COLLECTOR_INTERNAL_JOB]
# Labels the collector's `prometheus` exporter puts on every series that the services'
# own /metrics do not have: job and instance (from service.name and
# service.instance.id) and the instrumentation scope, which the services leave out.
COLLECTOR_ADDED_LABELS = frozenset(
    {"job", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
)
# target_info (one per resource, no scope) gets job and instance only, made of two
# resource attributes that leave it.
TARGET_INFO_ADDED_LABELS = frozenset({"job", "instance"})
TARGET_INFO_MOVED_LABELS = frozenset({"service_name", "service_instance_id"})
SERVICE_ENVIRON = {
    "ORDER_API_FAULTS": checks.FAULTS,
    "OTEL_METRICS_EXPORTER": "otlp,prometheus",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
}


@dataclass(frozen=True)
class Observed:
    stack: Stack
    collector: RunningCollector
    prometheus: Prometheus
    traces: OtlpReceiver


def _pushed_after_the_mix(prometheus: Prometheus) -> bool:
    # The mix's last request (BREW) and its last RPC (ListOrders) arrived through the collector.
    gateway = checks.values(prometheus, 'http_requests_total{method="_OTHER"}', ())
    order_api = checks.values(prometheus, 'grpc_requests_total{method="ListOrders"}', ())
    return bool(gateway.get(()) and order_api.get(()))


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp: Path = tmp_path_factory.mktemp("collector-path")
    with running_collector_path(tmp, SERVICE_ENVIRON, rule_files=rule_files()) as path:
        wait_for_fresh_scrapes(path.prometheus, JOBS)
        send_known_mix(path.stack, list_status=checks.LIST_STATUS)
        wait_until(lambda: _pushed_after_the_mix(path.prometheus), 20, "the mix's metrics")
        wait_for_fresh_scrapes(path.prometheus, JOBS)
        wait_for_fresh_scrapes(path.prometheus, JOBS)
        yield Observed(path.stack, path.collector, path.prometheus, path.traces)


def test_gateway_counts_through_the_collector_are_exact(observed: Observed) -> None:
    assert checks.gateway_counts(observed.prometheus) == checks.expected_gateway_counts()


def test_order_api_counts_through_the_collector_are_exact(observed: Observed) -> None:
    assert checks.order_api_counts(observed.prometheus) == checks.expected_order_api_counts()
    assert checks.orders_created(observed.prometheus) == {(): 3}


def test_both_collector_jobs_are_up(observed: Observed) -> None:
    targets = observed.prometheus.api("targets")["activeTargets"]
    health = {target["labels"]["job"]: target["health"] for target in targets}
    assert health == dict.fromkeys(JOBS, "up")


def test_job_and_instance_are_service_name_and_instance_id(observed: Observed) -> None:
    own = {
        url: scrape(url).samples("target_info")[0].labels
        for url in (observed.stack.gateway_url + "/metrics", observed.stack.order_api_metrics_url)
    }
    expected = {(labels["service_name"], labels["service_instance_id"]) for labels in own.values()}
    pushed = checks.values(
        observed.prometheus, f'target_info{{job!="{JOBS[1]}"}}', ("job", "instance")
    )
    assert set(pushed) == expected


def test_every_rule_group_loads_and_evaluates_healthy(observed: Observed) -> None:
    files, unhealthy = checks.unhealthy_rules(observed.prometheus)
    assert files == {"alerts.yml", "native.yml", "recording.yml"}
    assert unhealthy == []


@pytest.mark.parametrize("dashboard", classic_dashboard_paths(), ids=lambda path: path.stem)
def test_every_dashboard_query_returns_data(observed: Observed, dashboard: Path) -> None:
    # Export failures have no series until the first one; the forced-failure test
    # below reads those names from the collector.
    empty = [
        query
        for query in checks.empty_dashboard_queries(observed.prometheus, dashboard)
        if not set(metric_names(query)) & FAILURE_ONLY_SERIES
    ]
    assert empty == []


def test_the_collectors_own_metrics_are_scraped(observed: Observed) -> None:
    accepted = checks.values(
        observed.prometheus,
        'otelcol_receiver_accepted_metric_points{job="otel-collector-internal"}',
        ("transport",),
    )
    assert accepted.get(("grpc",), 0) > 0


def test_dashboard_and_alert_names_are_on_the_collectors_own_endpoint(
    observed: Observed,
) -> None:
    exposed = _sample_names(fetch(f"http://{observed.collector.ports.telemetry_target}/metrics"))
    missing = COLLECTOR_SERIES - FAILURE_ONLY_SERIES - exposed
    assert missing == set()


def test_one_trace_id_spans_the_gateway_and_the_order_api(observed: Observed) -> None:
    def linked() -> set[bytes]:
        gateway = {span.trace_id for span in observed.traces.spans("web-gateway")}
        order_api = {span.trace_id for span in observed.traces.spans("order-api")}
        return gateway & order_api

    wait_until(lambda: len(linked()) >= 3, 15, "spans of both services in three traces")
    gateway_spans = {span.span_id for span in observed.traces.spans("web-gateway")}
    for span in observed.traces.spans("order-api"):
        if span.trace_id in linked() and span.parent_span_id:
            assert span.parent_span_id in gateway_spans


def _sample_names(text: str) -> set[str]:
    # Read from the text as Prometheus stores them (a parser may append _total to counters).
    return {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def _own_families(observed: Observed) -> dict[str, tuple[Metric, str]]:
    gateway = scrape(observed.stack.gateway_url + "/metrics")
    order_api = scrape(observed.stack.order_api_metrics_url)
    families: dict[str, tuple[Metric, str]] = {}
    for names, exposition, job in (
        (GATEWAY_METRICS | RUNTIME_METRICS, gateway, "web-gateway"),
        (ORDER_API_METRICS, order_api, "order-api"),
    ):
        for name in names:
            family = exposition.family(name)
            assert family is not None, (job, name)
            families[name] = (family, job)
    return families


def _label_names(family: Metric, job: str | None = None) -> set[str]:
    return {
        label
        for sample in family.samples
        if job is None or sample.labels.get("job") == job
        for label in sample.labels
        if label != "le"
    }


def _bounds(family: Metric) -> set[float]:
    # Compared as numbers: Python renders le="1.0" where Go renders le="1".
    return {float(sample.labels["le"]) for sample in family.samples if "le" in sample.labels}


def _collector_family(exposition: Exposition, name: str, job: str) -> Metric:
    family = exposition.family(name)
    assert family is not None, f"{name} missing on the collector"
    samples = [sample for sample in family.samples if sample.labels.get("job") == job]
    assert samples, f"{name} of {job} missing on the collector"
    return family


def test_every_contract_family_has_the_same_shape_through_the_collector(
    observed: Observed,
) -> None:
    pushed = scrape(f"http://{observed.collector.ports.prometheus_target}/metrics")
    differences = []
    for name, (own, job) in sorted(_own_families(observed).items()):
        through = _collector_family(pushed, name, job)
        own_labels = _label_names(own)
        through_labels = _label_names(through, job)
        added = COLLECTOR_ADDED_LABELS
        if name == "target_info":
            own_labels -= TARGET_INFO_MOVED_LABELS
            added = TARGET_INFO_ADDED_LABELS
        row = {
            "type": (own.type, through.type),
            "name": (own.name, through.name),
            "labels": (own_labels, through_labels - added),
            "added": (added, through_labels - own_labels),
            "buckets": (_bounds(own), _bounds(through)),
        }
        differences += [(name, what, a, b) for what, (a, b) in row.items() if a != b]
    assert differences == []


def test_access_lines_reach_the_log_backend_through_the_collector_with_their_traces(
    observed: Observed,
) -> None:
    def access_records(service: str) -> list[logs_pb2.LogRecord]:
        return [
            record
            for record in observed.traces.log_records(service)
            if any(attribute.key == "duration_ms" for attribute in record.attributes)
        ]

    wait_until(
        lambda: len(access_records("order-api")) >= sum(ORDER_API_COUNTS.values()),
        20,
        "the order-api's access lines through the collector",
    )
    for service in ("web-gateway", "order-api"):
        spans = {(s.trace_id, s.span_id) for s in observed.traces.spans(service)}
        records = access_records(service)
        assert records, service
        assert {(r.trace_id, r.span_id) for r in records} <= spans, service
