"""End to end with a real Prometheus: the project's local scrape config and rules, both services.

Prometheus (Debian's package) runs on a free port with the config rendered for
the local ports and a 1 s scrape interval. After a known mix of traffic, its
HTTP API must show exact counts per label set, both targets up, every rule
group healthy, and data for every query of every dashboard panel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_stack.deploy.prometheus_config import local_targets, render
from otel_stack.harness.local_prometheus import rule_files
from otel_stack.harness.running import Stack, running_stack
from tests.deploy.dashboards import service_dashboard_paths
from tests.support import prometheus_expectations as checks
from tests.support.known_traffic import send_known_mix
from tests.support.prometheus import Prometheus, running_prometheus, wait_for_fresh_scrapes

JOBS = ["web-gateway", "order-api"]


@dataclass(frozen=True)
class Observed:
    stack: Stack
    prometheus: Prometheus


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp: Path = tmp_path_factory.mktemp("prometheus-e2e")
    environ = {"ORDER_API_FAULTS": checks.FAULTS}
    (tmp / "services").mkdir()
    with running_stack(tmp / "services", launcher=True, environ=environ) as stack:
        config = render(
            local_targets(_port(stack.gateway_url), _port(stack.order_api_metrics_url)),
            scrape_interval="1s",
            rule_files=rule_files(),
        )
        with running_prometheus(tmp / "prometheus", config) as prometheus:
            wait_for_fresh_scrapes(prometheus, JOBS)  # rate() needs a sample before the traffic
            send_known_mix(stack, list_status=checks.LIST_STATUS)
            wait_for_fresh_scrapes(prometheus, JOBS)
            wait_for_fresh_scrapes(prometheus, JOBS)
            yield Observed(stack, prometheus)


def test_gateway_counts_through_prometheus_are_exact(observed: Observed) -> None:
    assert checks.gateway_counts(observed.prometheus) == checks.expected_gateway_counts()


def test_order_api_counts_through_prometheus_are_exact(observed: Observed) -> None:
    assert checks.order_api_counts(observed.prometheus) == checks.expected_order_api_counts()
    assert checks.orders_created(observed.prometheus) == {(): 3}


def test_both_targets_are_up(observed: Observed) -> None:
    targets = observed.prometheus.api("targets")["activeTargets"]
    health = {target["labels"]["job"]: target["health"] for target in targets}
    assert health == {"web-gateway": "up", "order-api": "up"}


def test_every_rule_group_loads_and_evaluates_healthy(observed: Observed) -> None:
    files, unhealthy = checks.unhealthy_rules(observed.prometheus)
    assert files == {"alerts.yml", "native.yml", "recording.yml"}
    assert unhealthy == []


@pytest.mark.parametrize("dashboard", service_dashboard_paths(), ids=lambda path: path.stem)
def test_every_dashboard_query_returns_data(observed: Observed, dashboard: Path) -> None:
    assert checks.empty_dashboard_queries(observed.prometheus, dashboard) == []
