"""prometheus/rules and prometheus/tests: valid rules, passing unit tests, complete alerts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.promql import KNOWN_SERIES, metric_names
from tests.deploy.stack_files import (
    ALERTS_DOC,
    RULE_TESTS_DIR,
    RULES_DIR,
    alert_rules,
    load_yaml,
    rules,
    run_promtool,
)

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.yml"))
SEVERITIES = {"critical", "warning"}
RUNBOOK_PREFIX = "docs/alerts.md#"
# level:metric:operations (https://prometheus.io/docs/practices/rules/)
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z_]+:[a-z0-9_]+$")


def _rules() -> list[dict[str, Any]]:
    return rules(RULE_FILES)


def _alerts() -> list[dict[str, Any]]:
    return alert_rules()


def _alert_rule_tests() -> list[dict[str, Any]]:
    return [
        case
        for path in RULE_TEST_FILES
        for test in load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _doc_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+)$", ALERTS_DOC.read_text(encoding="utf-8"), re.M)
    return {github_anchor(heading) for heading in headings}


def test_there_are_rule_files_and_rule_tests() -> None:
    assert [path.name for path in RULE_FILES] == ["alerts.yml", "native.yml", "recording.yml"]
    assert RULE_TEST_FILES


@pytest.mark.prometheus
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda path: path.name)
def test_rule_file_passes_promtool_check(path: Path) -> None:
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
@pytest.mark.parametrize("path", RULE_TEST_FILES, ids=lambda path: path.name)
def test_rule_unit_tests_pass(path: Path) -> None:
    result = run_promtool("test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_tests_load_the_repository_rule_files() -> None:
    for path in RULE_TEST_FILES:
        for rule_file in load_yaml(path)["rule_files"]:
            assert (path.parent / rule_file).resolve().parent == RULES_DIR.resolve(), (
                path,
                rule_file,
            )


def test_every_alert_has_a_severity_and_the_three_annotations() -> None:
    alerts = _alerts()
    assert alerts
    for alert in alerts:
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        annotations = alert["annotations"]
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key, "").strip(), (alert["alert"], key)


def test_every_runbook_url_is_an_anchor_of_docs_alerts_md() -> None:
    anchors = _doc_anchors()
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        assert url == RUNBOOK_PREFIX + alert["alert"].lower(), url
        assert url.removeprefix(RUNBOOK_PREFIX) in anchors, url


def test_the_expected_alerts_are_defined() -> None:
    assert {alert["alert"] for alert in _alerts()} == {
        "GatewayHighErrorRatio",
        "GatewayHighLatencyP99",
        "OrderApiServerFaultRatio",
        "TargetDown",
        "ServiceWorkersRestarting",
        "GatewayErrorBudgetBurn",
        "CollectorRefusingData",
        "CollectorExportFailing",
        "PrometheusOtlpReceiverFailing",
    }


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    firing = {case["alertname"] for case in _alert_rule_tests() if case.get("exp_alerts")}
    silent = {case["alertname"] for case in _alert_rule_tests() if not case.get("exp_alerts")}
    names = {alert["alert"] for alert in _alerts()}
    assert names <= firing, names - firing
    assert names <= silent, names - silent


def test_burn_rate_alerts_follow_the_sre_workbook_windows_and_factors() -> None:
    burns = [alert for alert in _alerts() if alert["alert"] == "GatewayErrorBudgetBurn"]
    windows = {
        (alert["labels"]["long_window"], alert["labels"]["short_window"]): alert for alert in burns
    }
    expected = {
        ("1h", "5m"): ("critical", "14.4 * 0.001"),
        ("6h", "30m"): ("critical", "6 * 0.001"),
        ("1d", "2h"): ("warning", "3 * 0.001"),
        ("3d", "6h"): ("warning", "0.001"),
    }
    assert set(windows) == set(expected)
    for (long_window, short_window), (severity, threshold) in expected.items():
        alert = windows[(long_window, short_window)]
        assert alert["labels"]["severity"] == severity
        expr = " ".join(alert["expr"].split())
        assert f"ratio_rate{long_window}{{" in expr and f"ratio_rate{short_window}{{" in expr
        assert expr.count(threshold) == 2, expr


def test_server_fault_codes_exclude_client_errors() -> None:
    text = (RULES_DIR / "recording.yml").read_text(encoding="utf-8")
    match = re.search(r'status=~"([A-Z_|]+)"', text)
    assert match is not None
    codes = set(match.group(1).split("|"))
    assert codes >= {"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "DATA_LOSS"}
    assert codes >= {"UNIMPLEMENTED", "RESOURCE_EXHAUSTED"}
    assert not codes & {"NOT_FOUND", "INVALID_ARGUMENT", "ALREADY_EXISTS", "FAILED_PRECONDITION"}


def test_recording_rule_names_follow_level_metric_operations() -> None:
    for rule in _rules():
        if "record" in rule:
            assert RECORD_NAME.match(rule["record"]), rule["record"]


def test_rules_select_only_contract_or_collector_metrics_or_recorded_series() -> None:
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for rule in _rules():
        names = set(metric_names(rule["expr"]))
        unknown = names - KNOWN_SERIES - recorded - {"up"}
        assert not unknown, (rule.get("record") or rule.get("alert"), unknown)
