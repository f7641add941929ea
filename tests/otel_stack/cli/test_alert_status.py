"""Tests for otel_stack/cli/alert_status.py: Prometheus' alerts and the sink's pages in the view."""

from __future__ import annotations

import http.server
import json

import pytest

from otel_stack.cli import alert_status
from otel_stack.harness.alert_sink import Notification, ReceivedAlert
from tests.support.http_server import serving_http

ALERTS = {
    "status": "success",
    "data": {
        "alerts": [
            {
                "labels": {"alertname": "OrderApiServerFaultRatio", "severity": "warning"},
                "state": "pending",
            },
            {
                "labels": {"alertname": "TargetDown", "severity": "critical", "job": "order-api"},
                "state": "firing",
            },
        ]
    },
}


class _AlertsHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(ALERTS).encode() if self.path == "/api/v1/alerts" else b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_alerts_are_read_from_prometheus_firing_first() -> None:
    with serving_http(_AlertsHandler) as url:
        alerts = alert_status.read_alerts(url)
    assert [(alert.name, alert.state) for alert in alerts] == [
        ("TargetDown", "firing"),
        ("OrderApiServerFaultRatio", "pending"),
    ]
    assert alerts[0].labels == (("job", "order-api"),)


def test_an_unreachable_prometheus_is_one_clear_error() -> None:
    with pytest.raises(
        alert_status.AlertsUnavailableError, match=r"alerts of http://127\.0\.0\.1:9"
    ):
        alert_status.read_alerts("http://127.0.0.1:9", timeout=0.5)


def test_the_block_lists_alerts_then_the_latest_notifications() -> None:
    alerts = [alert_status.ActiveAlert("TargetDown", "firing", "critical", (("job", "x"),))]
    page = Notification(
        "page", 0.0, "firing", (ReceivedAlert("firing", {"alertname": "TargetDown"}, "down"),)
    )
    lines = alert_status.render(alerts, [page])
    assert lines[1] == "firing   critical TargetDown job=x"
    assert lines[-1].endswith("PAGE firing TargetDown: down")


def test_the_block_says_when_there_is_nothing_or_prometheus_is_unavailable() -> None:
    assert "(none pending or firing)" in alert_status.render([], [])
    assert "(unavailable)" in alert_status.render(None, [])
    assert "(none received yet)" in alert_status.render([], [])
