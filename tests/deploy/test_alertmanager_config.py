"""alertmanager/alertmanager.yml: valid, routed by severity, inhibiting, rendered for local runs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_stack.harness import local_alertmanager
from otel_stack.harness.alert_sink import AlertSink
from tests.deploy.stack_files import (
    ALERTMANAGER_CONFIG,
    alert_rules,
    compose,
    compose_service,
    load_yaml,
)
from tests.support.alertmanager import Alertmanager, amtool, running_alertmanager
from tests.support.polling import wait_until

RECEIVER_OF_SEVERITY = {"critical": "page", "warning": "ticket"}


def _config() -> dict[str, Any]:
    config: dict[str, Any] = load_yaml(ALERTMANAGER_CONFIG)
    return config


def _alert_name_severity_pairs() -> list[tuple[str, str]]:
    return sorted({(rule["alert"], rule["labels"]["severity"]) for rule in alert_rules()})


def _inhibit_rule(source_alertname: str) -> dict[str, Any]:
    for rule in _config()["inhibit_rules"]:
        if f'alertname="{source_alertname}"' in rule["source_matchers"]:
            found: dict[str, Any] = rule
            return found
    raise AssertionError(f"no inhibit rule with source {source_alertname}")


@pytest.mark.alertmanager
def test_committed_config_passes_amtool_check_config() -> None:
    result = amtool("check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.alertmanager
@pytest.mark.parametrize(("alertname", "severity"), _alert_name_severity_pairs())
def test_each_alert_reaches_the_receiver_of_its_severity(alertname: str, severity: str) -> None:
    expected = RECEIVER_OF_SEVERITY[severity]
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={expected}",
        f"alertname={alertname}",
        f"severity={severity}",
        "job=web-gateway",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.alertmanager
def test_an_alert_without_severity_opens_a_ticket() -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        "--verify.receivers=ticket",
        "alertname=Unknown",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_severity_of_the_rules_has_a_route() -> None:
    routes = {tuple(route["matchers"]): route["receiver"] for route in _config()["route"]["routes"]}
    for severity, receiver in RECEIVER_OF_SEVERITY.items():
        assert routes[(f'severity="{severity}"',)] == receiver
    assert {severity for _, severity in _alert_name_severity_pairs()} <= set(RECEIVER_OF_SEVERITY)


def test_notifications_are_grouped_by_alert_name_and_job() -> None:
    route = _config()["route"]
    assert route["group_by"] == ["alertname", "job"]
    assert {"group_wait", "group_interval", "repeat_interval"} <= set(route)


def test_target_down_mutes_every_other_alert_on_the_jobs_it_watches() -> None:
    rule = _inhibit_rule("TargetDown")
    assert rule["equal"] == ["job"]
    (matcher,) = rule["target_matchers"]
    pattern = re.fullmatch(r'alertname=~"(.+)"', matcher)
    assert pattern is not None, matcher
    (target_down,) = [alert for alert in alert_rules() if alert["alert"] == "TargetDown"]
    watched = re.search(r'job=~"([^"]+)"', target_down["expr"])
    assert watched is not None
    jobs = watched.group(1).split("|")
    same_jobs = {
        alert["alert"]
        for alert in alert_rules()
        if alert["alert"] != "TargetDown" and any(f'job="{job}"' in alert["expr"] for job in jobs)
    }
    assert same_jobs
    assert set(pattern.group(1).split("|")) == same_jobs


def test_receivers_are_webhooks_that_send_resolved_and_read_urls_from_secret_files() -> None:
    secrets = {
        f"/run/secrets/{name}" for name in compose_service("alertmanager").get("secrets", [])
    }
    receivers = {receiver["name"]: receiver for receiver in _config()["receivers"]}
    assert set(receivers) == set(RECEIVER_OF_SEVERITY.values())
    for receiver in receivers.values():
        (webhook,) = receiver["webhook_configs"]
        assert set(webhook) == {"url_file", "send_resolved"}
        assert webhook["send_resolved"] is True
        assert webhook["url_file"] in secrets


def test_compose_secrets_default_to_the_alert_sink_urls() -> None:
    secrets = compose()["secrets"]
    for receiver in RECEIVER_OF_SEVERITY.values():
        source = secrets[f"{receiver}-webhook-url"]["file"]
        variable = f"ALERT_{receiver.upper()}_WEBHOOK_URL_FILE"
        match = re.fullmatch(r"\$\{" + variable + r":-(\./[^}]+)\}", source)
        assert match is not None, source
        default = ALERTMANAGER_CONFIG.parents[1] / match.group(1)
        url = default.read_text(encoding="utf-8").strip()
        assert url == f"http://alert-sink:9099/{receiver}"


def test_local_render_keeps_routes_and_inlines_the_webhook_urls() -> None:
    urls = {"page": "http://127.0.0.1:1/page", "ticket": "http://127.0.0.1:1/ticket"}
    rendered = yaml.safe_load(local_alertmanager.render(urls))
    committed = _config()
    assert rendered["route"] == committed["route"]
    assert rendered["inhibit_rules"] == committed["inhibit_rules"]
    for receiver in rendered["receivers"]:
        assert receiver["webhook_configs"] == [
            {"send_resolved": True, "url": urls[receiver["name"]]}
        ]


def test_webhook_urls_from_the_environment_replace_the_sink() -> None:
    sink = {"page": "http://127.0.0.1:9099/page", "ticket": "http://127.0.0.1:9099/ticket"}
    environ = {"ALERT_PAGE_WEBHOOK_URL": "https://pager.example/hook"}
    assert local_alertmanager.webhook_urls(sink, environ) == {
        "page": "https://pager.example/hook",
        "ticket": "http://127.0.0.1:9099/ticket",
    }


def test_the_local_config_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = local_alertmanager.write_config(tmp_path, "route: {}\n")
    assert path.stat().st_mode & 0o777 == 0o600


# --- inhibition, in a real Alertmanager --------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    sink = AlertSink().start()
    try:
        urls = {name: sink.url(name) for name in local_alertmanager.RECEIVERS}
        text = local_alertmanager.render(urls)
        with running_alertmanager(tmp_path_factory.mktemp("alertmanager"), text) as server:
            yield server
    finally:
        sink.close()


def _alert(alertname: str, severity: str, job: str, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": alertname, "severity": severity, "job": job, **labels},
        "annotations": {"summary": f"{alertname} in a test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }


def _states(server: Alertmanager, run: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (alert["labels"]["alertname"], alert["labels"]["severity"], alert["labels"]["job"]): alert[
            "status"
        ]
        for alert in server.alerts()
        if alert["labels"].get("run") == run
    }


def _settled(server: Alertmanager, run: str, count: int) -> dict[tuple[str, str, str], Any]:
    def seen() -> bool:
        states = _states(server, run)
        return len(states) == count and all(s["state"] != "unprocessed" for s in states.values())

    wait_until(seen, 15, f"{count} alerts of run {run} processed")
    return _states(server, run)


def test_target_down_mutes_the_error_ratio_alert_of_its_job_not_of_others(
    alertmanager: Alertmanager,
) -> None:
    run = f"inhibit-{time.monotonic_ns()}"
    alertmanager.post_alerts(
        [
            _alert("TargetDown", "critical", "order-api", run=run),
            _alert("OrderApiServerFaultRatio", "warning", "order-api", run=run),
            _alert("GatewayHighErrorRatio", "warning", "web-gateway", run=run),
        ]
    )
    states = _settled(alertmanager, run, 3)
    muted = states[("OrderApiServerFaultRatio", "warning", "order-api")]
    assert muted["state"] == "suppressed"
    assert muted["inhibitedBy"]
    assert states[("GatewayHighErrorRatio", "warning", "web-gateway")]["state"] == "active"
    assert states[("TargetDown", "critical", "order-api")]["state"] == "active"


def test_a_critical_burn_mutes_its_warning_twin(alertmanager: Alertmanager) -> None:
    run = f"burn-{time.monotonic_ns()}"
    alertmanager.post_alerts(
        [
            _alert("GatewayErrorBudgetBurn", "critical", "web-gateway", run=run, long_window="1h"),
            _alert("GatewayErrorBudgetBurn", "warning", "web-gateway", run=run, long_window="1d"),
        ]
    )
    states = _settled(alertmanager, run, 2)
    assert states[("GatewayErrorBudgetBurn", "warning", "web-gateway")]["state"] == "suppressed"
    assert states[("GatewayErrorBudgetBurn", "critical", "web-gateway")]["state"] == "active"
