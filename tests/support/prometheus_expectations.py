"""What a real Prometheus must show after the known request mix, whichever path metrics took.

The direct-scrape test (Prometheus scrapes the services) and the collector test
(the services push over OTLP, Prometheus scrapes the collector) run these same
checks: exact counts per label set, every rule healthy, data for every
dashboard query.
"""

from __future__ import annotations

from pathlib import Path

from services.web_gateway.client import RETRY_ATTEMPTS
from tests.deploy.dashboards import dashboard_queries
from tests.support.known_traffic import GATEWAY_COUNTS, ORDER_API_COUNTS
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus

# ListOrders fails with a server fault, so the error panels and ratios have data too.
FAULTS = "error:ListOrders=1.0:UNAVAILABLE"
LIST_STATUS = 503


def values(
    prometheus: Prometheus, expr: str, labels: tuple[str, ...]
) -> dict[tuple[str, ...], int]:
    """The result of `expr` keyed by the values of `labels`, as integers."""
    return {
        tuple(series["metric"].get(label, "") for label in labels): int(float(series["value"][1]))
        for series in prometheus.query(expr)
    }


def expected_gateway_counts() -> dict[tuple[str, ...], int]:
    """http_requests_total by (method, route, status_code) after the mix with FAULTS."""
    expected: dict[tuple[str, ...], int] = dict(GATEWAY_COUNTS)
    del expected[("GET", "/orders", "200")]
    expected[("GET", "/orders", str(LIST_STATUS))] = 1
    return expected


def expected_order_api_counts() -> dict[tuple[str, ...], int]:
    """grpc_requests_total by (method, status) after the mix with FAULTS."""
    expected: dict[tuple[str, ...], int] = dict(ORDER_API_COUNTS)
    del expected[("ListOrders", "OK")]
    # The gateway retries UNAVAILABLE for calls safe to repeat: each attempt reaches the order-api.
    expected[("ListOrders", "UNAVAILABLE")] = RETRY_ATTEMPTS
    return expected


def gateway_counts(prometheus: Prometheus) -> dict[tuple[str, ...], int]:
    """Non-zero http_requests_total of job web-gateway, probes aside."""
    actual = values(
        prometheus,
        'http_requests_total{job="web-gateway", route!~"/readyz|/healthz"}',
        ("method", "route", "status_code"),
    )
    return {key: value for key, value in actual.items() if value}


def order_api_counts(prometheus: Prometheus) -> dict[tuple[str, ...], int]:
    """Non-zero grpc_requests_total of job order-api."""
    actual = values(prometheus, 'grpc_requests_total{job="order-api"}', ("method", "status"))
    return {key: value for key, value in actual.items() if value}


def orders_created(prometheus: Prometheus) -> dict[tuple[str, ...], int]:
    """orders_created_total of job order-api."""
    return values(prometheus, 'orders_created_total{job="order-api"}', ())


def unhealthy_rules(prometheus: Prometheus) -> tuple[set[str], list[tuple[str, str | None]]]:
    """(rule file names loaded, rules not healthy) once every rule was evaluated."""

    def evaluated() -> bool:
        groups = prometheus.api("rules")["groups"]
        return bool(groups) and all(
            rule.get("lastEvaluation", "").startswith("20") for g in groups for rule in g["rules"]
        )

    wait_until(evaluated, 15, "every rule evaluated once")
    groups = prometheus.api("rules")["groups"]
    files = {Path(group["file"]).name for group in groups}
    unhealthy = [
        (rule["name"], rule.get("lastError"))
        for group in groups
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    return files, unhealthy


def empty_dashboard_queries(prometheus: Prometheus, dashboard: Path) -> list[str]:
    """The dashboard's queries for which Prometheus returns no series."""
    return [query for query in dashboard_queries(dashboard) if not prometheus.query(query)]
