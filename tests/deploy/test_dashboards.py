"""The Grafana dashboards: well-formed, documented, filtered by $job/$instance, on the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.dashboards import (
    dashboard_paths,
    dashboard_queries,
    load_dashboard,
    panels,
    raw_queries,
    substitute,
)
from tests.deploy.promql import (
    KNOWN_SERIES,
    brackets_balanced,
    metric_names,
    range_windows,
    selectors,
)
from tests.deploy.stack_files import DATASOURCES, load_yaml, run_promtool

__all__ = ["dashboard_queries"]  # reused by end-to-end tests against a real Prometheus

EXPECTED_DASHBOARDS = (
    "latency-native.json",
    "order-api.json",
    "otel-collector.json",
    "runtime.json",
    "web-gateway.json",
)
PROMETHEUS_DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
JOB_MATCHER = 'job=~"$job"'
INSTANCE_MATCHER = 'instance=~"$instance"'

DASHBOARDS = pytest.mark.parametrize("path", dashboard_paths(), ids=lambda path: path.stem)


def test_the_four_dashboards_exist() -> None:
    assert tuple(path.name for path in dashboard_paths()) == EXPECTED_DASHBOARDS


@DASHBOARDS
def test_dashboard_has_schema_version_39_a_uid_and_unique_panel_ids(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] == path.stem
    ids = [panel["id"] for panel in panels(dashboard)]
    assert ids and len(ids) == len(set(ids))


def test_dashboard_uids_and_titles_are_unique() -> None:
    dashboards = [load_dashboard(path) for path in dashboard_paths()]
    assert len({dashboard["uid"] for dashboard in dashboards}) == len(dashboards)
    assert len({dashboard["title"] for dashboard in dashboards}) == len(dashboards)


@DASHBOARDS
def test_every_panel_has_a_unit_and_a_description(path: Path) -> None:
    for panel in panels(load_dashboard(path)):
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert panel.get("description", "").strip(), panel["title"]
        assert panel.get("targets"), panel["title"]


@DASHBOARDS
def test_every_datasource_is_the_provisioned_prometheus_by_uid(path: Path) -> None:
    provisioned = {source["uid"] for source in load_yaml(DATASOURCES)["datasources"]}
    assert PROMETHEUS_DATASOURCE["uid"] in provisioned
    dashboard = load_dashboard(path)
    for panel in panels(dashboard):
        assert panel["datasource"] == PROMETHEUS_DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == PROMETHEUS_DATASOURCE, panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"] == PROMETHEUS_DATASOURCE, variable["name"]


@DASHBOARDS
def test_job_and_instance_are_label_values_query_variables(path: Path) -> None:
    variables = {var["name"]: var for var in load_dashboard(path)["templating"]["list"]}
    assert set(variables) == {"job", "instance"}
    for label, variable in variables.items():
        assert variable["type"] == "query"
        query = variable["query"]["query"]
        assert query.startswith("label_values(") and query.endswith(f", {label})"), query
    assert JOB_MATCHER in variables["instance"]["query"]["query"]


@DASHBOARDS
def test_every_selector_filters_on_job_and_instance(path: Path) -> None:
    for query in raw_queries(path):
        found = selectors(query)
        assert [name for name, _ in found] == metric_names(query), query
        for _, matchers in found:
            assert JOB_MATCHER in matchers and INSTANCE_MATCHER in matchers, query


@DASHBOARDS
def test_every_rate_window_is_rate_interval(path: Path) -> None:
    for query in raw_queries(path):
        assert all(window == "$__rate_interval" for window in range_windows(query)), query


@DASHBOARDS
def test_queries_select_only_metrics_of_the_contract_or_the_collector(path: Path) -> None:
    for query in dashboard_queries(path):
        names = metric_names(query)
        assert names, query
        assert set(names) <= KNOWN_SERIES, (query, set(names) - KNOWN_SERIES)


@DASHBOARDS
def test_substituted_queries_have_no_variables_and_balanced_brackets(path: Path) -> None:
    for query in dashboard_queries(path):
        assert "$" not in query, query
        assert brackets_balanced(query), query


@pytest.mark.prometheus
def test_substituted_queries_parse_as_promql(tmp_path: Path) -> None:
    """promtool parses every query, offline, as the expression of a recording rule."""
    rules = [
        f"      - record: dashboard:{path.stem.replace('-', '_')}:query{number}\n"
        f"        expr: {_yaml_string(query)}\n"
        for path in dashboard_paths()
        for number, query in enumerate(dashboard_queries(path))
    ]
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text("groups:\n  - name: dashboard-queries\n    rules:\n" + "".join(rules))
    result = run_promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_substitute_replaces_variables_with_match_all_and_one_minute() -> None:
    query = 'rate(x_total{job=~"$job", instance=~"${instance}"}[$__rate_interval])'
    assert substitute(query) == 'rate(x_total{job=~".*", instance=~".*"}[1m])'


def test_dashboard_queries_gives_one_query_per_panel_target() -> None:
    for path in dashboard_paths():
        targets = [target for panel in panels(load_dashboard(path)) for target in panel["targets"]]
        assert len(dashboard_queries(path)) == len(targets)


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar of `text`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The histograms whose buckets carry exemplars (recorded inside the request's span).
EXEMPLAR_HISTOGRAMS = (
    "http_request_duration_seconds_bucket",
    "http_server_request_duration_seconds_bucket",
    "grpc_request_duration_seconds_bucket",
    "rpc_server_call_duration_seconds_bucket",
)


@DASHBOARDS
def test_latency_panels_show_the_exemplars_of_their_histograms(path: Path) -> None:
    for panel in panels(load_dashboard(path)):
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if "histogram_quantile" in expr and set(metric_names(expr)) & set(EXEMPLAR_HISTOGRAMS):
                assert target.get("exemplar") is True, (path.stem, panel["title"])
