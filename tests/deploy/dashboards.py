"""Reading the Grafana dashboards: their panels, and their queries as plain PromQL.

`dashboard_queries` turns every panel query into PromQL that Prometheus accepts
as is (template variables replaced), for offline checks here and for running the
dashboards' queries against a real Prometheus in end-to-end tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.deploy.stack_files import DASHBOARDS_DIR

# What each template variable stands for in a query run outside Grafana: every job and
# instance, and a rate window of four 15 s scrape intervals ($__rate_interval's floor).
SUBSTITUTIONS: Mapping[str, str] = {
    "job": ".*",
    "instance": ".*",
    "__rate_interval": "1m",
}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


# The collector's own health: it has data only where metrics go through a collector.
COLLECTOR_DASHBOARD = "otel-collector"
# Latency from native histograms: it has data only where metrics are pushed over OTLP
# with exponential histograms into Prometheus (the OTLP receiver path).
NATIVE_DASHBOARD = "latency-native"


def dashboard_paths() -> list[Path]:
    """Every dashboard JSON file of the repository."""
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def service_dashboard_paths() -> list[Path]:
    """The dashboards of the services' classic metrics (not the collector's, not the native one)."""
    return [
        path
        for path in dashboard_paths()
        if path.stem not in (COLLECTOR_DASHBOARD, NATIVE_DASHBOARD)
    ]


def classic_dashboard_paths() -> list[Path]:
    """Every dashboard but the native-histogram one."""
    return [path for path in dashboard_paths() if path.stem != NATIVE_DASHBOARD]


def native_dashboard_path() -> Path:
    """The dashboard of the native-histogram latencies."""
    return next(path for path in dashboard_paths() if path.stem == NATIVE_DASHBOARD)


def load_dashboard(path: Path) -> dict[str, Any]:
    """Parse one dashboard JSON file."""
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, those nested in rows included (rows themselves excluded)."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def raw_queries(path: Path) -> list[str]:
    """The `expr` of every panel target, as written in the dashboard."""
    return [
        target["expr"]
        for panel in panels(load_dashboard(path))
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def substitute(query: str, values: Mapping[str, str] = SUBSTITUTIONS) -> str:
    """`query` with `$name` and `${name}` replaced; KeyError for an unknown variable."""
    return _VARIABLE.sub(lambda match: values[match.group(1) or match.group(2)], query)


def dashboard_queries(path: Path) -> list[str]:
    """Every panel query of the dashboard at `path`, as PromQL with no template variables."""
    return [substitute(query) for query in raw_queries(path)]
