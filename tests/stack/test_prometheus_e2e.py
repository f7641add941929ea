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

from services.stack.local_prometheus import rule_files
from services.stack.prometheus_config import local_targets, render
from services.web_gateway.client import RETRY_ATTEMPTS
from tests.helpers import wait_until
from tests.prometheus_tools import Prometheus, running_prometheus, wait_for_fresh_scrapes
from tests.stack.dashboards import dashboard_paths, dashboard_queries
from tests.telemetry.services import Stack, running_stack
from tests.telemetry.traffic import GATEWAY_COUNTS, ORDER_API_COUNTS, send_known_mix

JOBS = ["web-gateway", "order-api"]
# ListOrders fails with a server fault, so the error panels and ratios have data too.
FAULTS = "error:ListOrders=1.0:UNAVAILABLE"


@dataclass(frozen=True)
class Observed:
    stack: Stack
    prometheus: Prometheus


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp: Path = tmp_path_factory.mktemp("prometheus-e2e")
    environ = {"ORDER_API_FAULTS": FAULTS}
    (tmp / "services").mkdir()
    with running_stack(tmp / "services", launcher=True, environ=environ) as stack:
        config = render(
            local_targets(_port(stack.gateway_url), _port(stack.order_api_metrics_url)),
            scrape_interval="1s",
            rule_files=rule_files(),
        )
        with running_prometheus(tmp / "prometheus", config) as prometheus:
            wait_for_fresh_scrapes(prometheus, JOBS)  # rate() needs a sample before the traffic
            send_known_mix(stack, list_status=503)
            wait_for_fresh_scrapes(prometheus, JOBS)
            wait_for_fresh_scrapes(prometheus, JOBS)
            yield Observed(stack, prometheus)


def _values(
    prometheus: Prometheus, expr: str, labels: tuple[str, ...]
) -> dict[tuple[str, ...], int]:
    return {
        tuple(series["metric"].get(label, "") for label in labels): int(float(series["value"][1]))
        for series in prometheus.query(expr)
    }


def test_gateway_counts_through_prometheus_are_exact(observed: Observed) -> None:
    expected = dict(GATEWAY_COUNTS)
    del expected[("GET", "/orders", "200")]
    expected[("GET", "/orders", "503")] = 1
    actual = _values(
        observed.prometheus,
        'http_requests_total{job="web-gateway", route!~"/readyz|/healthz"}',
        ("method", "route", "status_code"),
    )
    assert {key: value for key, value in actual.items() if value} == expected


def test_order_api_counts_through_prometheus_are_exact(observed: Observed) -> None:
    expected = dict(ORDER_API_COUNTS)
    del expected[("ListOrders", "OK")]
    # The gateway retries UNAVAILABLE for calls safe to repeat: each attempt reaches the order-api.
    expected[("ListOrders", "UNAVAILABLE")] = RETRY_ATTEMPTS
    actual = _values(
        observed.prometheus, 'grpc_requests_total{job="order-api"}', ("method", "status")
    )
    assert {key: value for key, value in actual.items() if value} == expected
    assert _values(observed.prometheus, 'orders_created_total{job="order-api"}', ()) == {(): 3}


def test_both_targets_are_up(observed: Observed) -> None:
    targets = observed.prometheus.api("targets")["activeTargets"]
    health = {target["labels"]["job"]: target["health"] for target in targets}
    assert health == {"web-gateway": "up", "order-api": "up"}


def test_every_rule_group_loads_and_evaluates_healthy(observed: Observed) -> None:
    def evaluated() -> bool:
        groups = observed.prometheus.api("rules")["groups"]
        return bool(groups) and all(
            rule.get("lastEvaluation", "").startswith("20") for g in groups for rule in g["rules"]
        )

    wait_until(evaluated, 15, "every rule evaluated once")
    groups = observed.prometheus.api("rules")["groups"]
    assert {Path(group["file"]).name for group in groups} == {"alerts.yml", "recording.yml"}
    unhealthy = [
        (rule["name"], rule.get("lastError"))
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    assert unhealthy == []


@pytest.mark.parametrize("dashboard", dashboard_paths(), ids=lambda path: path.stem)
def test_every_dashboard_query_returns_data(observed: Observed, dashboard: Path) -> None:
    empty = [
        query for query in dashboard_queries(dashboard) if not observed.prometheus.query(query)
    ]
    assert empty == []
