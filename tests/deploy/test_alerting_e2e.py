"""End to end: an order-api fault pages and tickets someone via real Prometheus and Alertmanager.

Everything runs as `otel-stack up` runs it (otel_stack): both services under
the launcher, the tested Prometheus release with the repository's rules (time
compressed 60 times, generated from the real files: 5m windows become 5s, `for:
2m` becomes 2s), the tested Alertmanager release with the committed routing and
inhibition (only group timings shortened), and the alert sink as the page and
ticket webhooks. The scenario:

1. the order-api starts with `error:GetOrder=1.0:UNAVAILABLE` under generated
   traffic: the error-ratio alerts open tickets, the fast burn pages, and its
   warning twin (firing too) is inhibited;
2. the order-api is stopped: TargetDown pages;
3. it is started again without the fault: resolved notifications arrive.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otel_stack.cli import up_plan
from otel_stack.harness import local_alertmanager, local_prometheus, processes
from otel_stack.harness.alert_sink import AlertSink, Notification
from otel_stack.harness.load import LoadConfig, LoadGenerator
from otel_stack.harness.processes import Service
from otel_stack.harness.running import free_port
from tests.support.alertmanager import Alertmanager, running_alertmanager
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus, write_scaled_rules
from tests.support.tools import require_tool

pytestmark = [pytest.mark.prometheus, pytest.mark.alertmanager]

FAULT = "error:GetOrder=1.0:UNAVAILABLE"
TIME_FACTOR = 1 / 60
TIMINGS = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
PHASE_SECONDS = 60.0


@dataclass
class Scenario:
    """What the sink had received at the end of each phase, and what else was seen."""

    sink: AlertSink
    phases: dict[str, list[Notification]] = field(default_factory=dict)
    warning_burn_firing_in_prometheus: bool = False
    warning_burn_state_in_alertmanager: str = ""


def _received(
    notifications: list[Notification], receiver: str, alertname: str, status: str, **labels: str
) -> bool:
    return any(
        item.receiver == receiver
        and alert.name == alertname
        and alert.status == status
        and all(alert.labels.get(key) == value for key, value in labels.items())
        for item in notifications
        for alert in item.alerts
    )


def _wait(predicate: Callable[[], bool], timeout: float = PHASE_SECONDS) -> bool:
    """Poll until `predicate` holds or `timeout` passes; the tests assert on what was seen."""
    try:
        wait_until(predicate, timeout, "the alerting phase")
    except AssertionError:
        return False
    return True


def _alertmanager_state(alertmanager: Alertmanager, **labels: str) -> str:
    for alert in alertmanager.alerts():
        if all(alert["labels"].get(key) == value for key, value in labels.items()):
            return str(alert["status"]["state"])
    return "absent"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    prometheus_binary = require_tool("prometheus")
    tmp: Path = tmp_path_factory.mktemp("alerting-e2e")
    options = up_plan.UpOptions(
        gateway_port=free_port(),
        grpc_port=free_port(),
        metrics_port=free_port(),
        prometheus_port=free_port(),
        data_dir=tmp,
        inject=(FAULT,),
    )
    sink = AlertSink().start()
    started: list[Service] = []
    generator: LoadGenerator | None = None
    try:
        urls = {name: sink.url(name) for name in local_alertmanager.RECEIVERS}
        config = local_alertmanager.render(urls, timings=TIMINGS)
        with running_alertmanager(tmp / "alertmanager", config) as alertmanager:
            order_api, gateway = up_plan.service_specs(options, tmp)
            started.append(processes.start(order_api, timeout=30))
            started.append(processes.start(gateway, timeout=30))
            rules = write_scaled_rules(local_prometheus.rule_files(), tmp / "rules", TIME_FACTOR)
            config_path = local_prometheus.write_config(
                tmp,
                options.scrape_targets(),
                alertmanager_port=alertmanager.port,
                scrape_interval="1s",
                rules=rules,
            )
            spec = local_prometheus.spec(
                prometheus_binary, tmp, port=options.prometheus_port, config_path=config_path
            )
            started.append(processes.start(spec, timeout=30))
            prometheus = Prometheus(options.prometheus_url, started[-1].process, spec.log_path)
            generator = LoadGenerator(
                LoadConfig(target=options.gateway_url, rate=20, duration=300, concurrency=2)
            )
            generator.start()
            yield _run(sink, prometheus, alertmanager, started, options)
    finally:
        if generator is not None:
            generator.stop()
            generator.wait(timeout=15)
        processes.stop_all(started, grace=10)
        sink.close()


def _run(
    sink: AlertSink,
    prometheus: Prometheus,
    alertmanager: Alertmanager,
    started: list[Service],
    options: up_plan.UpOptions,
) -> Scenario:
    scenario = Scenario(sink)

    # 1. The fault: tickets for the ratios, a page for the fast burn.
    _wait(
        lambda: (
            _received(sink.notifications(), "page", "GatewayErrorBudgetBurn", "firing")
            and _received(sink.notifications(), "ticket", "GatewayHighErrorRatio", "firing")
            and _received(sink.notifications(), "ticket", "OrderApiServerFaultRatio", "firing")
        )
    )
    warning_burn = 'ALERTS{alertname="GatewayErrorBudgetBurn", severity="warning"}'
    scenario.warning_burn_firing_in_prometheus = _wait(
        lambda: bool(prometheus.query(warning_burn + ' == 1 and ALERTS{alertstate="firing"}')),
        10,
    )
    scenario.warning_burn_state_in_alertmanager = _alertmanager_state(
        alertmanager, alertname="GatewayErrorBudgetBurn", severity="warning"
    )
    scenario.phases["fault"] = sink.notifications()

    # 2. The order-api stops: TargetDown pages.
    order_api = next(service for service in started if service.name == "order-api")
    order_api.stop(grace=10)
    _wait(lambda: _received(sink.notifications(), "page", "TargetDown", "firing", job="order-api"))
    scenario.phases["stopped"] = sink.notifications()

    # 3. It comes back without the fault: resolved notifications.
    healthy = up_plan.service_specs(
        up_plan.UpOptions(
            gateway_port=options.gateway_port,
            grpc_port=options.grpc_port,
            metrics_port=options.metrics_port,
            data_dir=options.data_dir,
        ),
        options.data_dir,
    )[0]
    started.append(processes.start(healthy, timeout=30))
    _wait(
        lambda: (
            _received(sink.notifications(), "page", "TargetDown", "resolved", job="order-api")
            and _received(sink.notifications(), "ticket", "GatewayHighErrorRatio", "resolved")
            and _received(
                sink.notifications(), "page", "GatewayErrorBudgetBurn", "resolved", long_window="1h"
            )
        )
    )
    scenario.phases["recovered"] = sink.notifications()
    return scenario


def _describe(notifications: list[Notification]) -> list[str]:
    return [
        f"{item.receiver} {alert.status} {alert.name} {urllib.parse.urlencode(alert.labels)}"
        for item in notifications
        for alert in item.alerts
    ]


def test_the_fault_opens_tickets_for_the_gateway_and_order_api_error_ratios(
    scenario: Scenario,
) -> None:
    seen = scenario.phases["fault"]
    assert _received(seen, "ticket", "GatewayHighErrorRatio", "firing", job="web-gateway"), (
        _describe(seen)
    )
    assert _received(seen, "ticket", "OrderApiServerFaultRatio", "firing", job="order-api"), (
        _describe(seen)
    )


def test_the_fault_pages_for_the_fast_error_budget_burn(scenario: Scenario) -> None:
    seen = scenario.phases["fault"]
    assert _received(
        seen, "page", "GatewayErrorBudgetBurn", "firing", severity="critical", long_window="1h"
    ), _describe(seen)


def test_warnings_never_page_and_criticals_never_open_tickets(scenario: Scenario) -> None:
    seen = scenario.phases["recovered"]
    misrouted = [
        (item.receiver, alert.name, alert.labels.get("severity"))
        for item in seen
        for alert in item.alerts
        if (item.receiver == "page") != (alert.labels.get("severity") == "critical")
    ]
    assert seen
    assert misrouted == []


def test_the_warning_burn_fires_but_is_inhibited_by_its_critical_twin(scenario: Scenario) -> None:
    assert scenario.warning_burn_firing_in_prometheus
    assert scenario.warning_burn_state_in_alertmanager == "suppressed"
    seen = scenario.phases["stopped"]
    assert not _received(seen, "ticket", "GatewayErrorBudgetBurn", "firing"), _describe(seen)


def test_the_stopped_order_api_pages_target_down(scenario: Scenario) -> None:
    seen = scenario.phases["stopped"]
    assert _received(seen, "page", "TargetDown", "firing", job="order-api"), _describe(seen)
    assert not _received(seen, "page", "TargetDown", "firing", job="web-gateway")


def test_resolved_notifications_arrive_after_the_fault_is_removed(scenario: Scenario) -> None:
    seen = scenario.phases["recovered"]
    assert _received(seen, "page", "TargetDown", "resolved", job="order-api"), _describe(seen)
    assert _received(seen, "ticket", "GatewayHighErrorRatio", "resolved"), _describe(seen)
    assert _received(seen, "page", "GatewayErrorBudgetBurn", "resolved", long_window="1h"), (
        _describe(seen)
    )
