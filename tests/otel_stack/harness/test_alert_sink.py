"""Tests for otel_stack/harness/alert_sink.py: a real sink on a free port, posted to over HTTP."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_stack.harness.alert_sink import (
    MAX_BODY_BYTES,
    AlertSink,
    Notification,
    format_notification,
    parse_notification,
)
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.processes import ServiceSpec, module_command, spawn
from otel_stack.harness.running import free_port
from tests.support import REPO
from tests.support.polling import wait_until

PAYLOAD = {
    "version": "4",
    "receiver": "page",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "TargetDown", "severity": "critical", "job": "order-api"},
            "annotations": {"summary": "Prometheus cannot scrape order-api"},
            "startsAt": "2026-01-01T00:00:00Z",
        }
    ],
}


@pytest.fixture
def sink() -> Iterator[AlertSink]:
    server = AlertSink().start()
    try:
        yield server
    finally:
        server.close()


def _post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_notification_is_kept_under_the_receiver_of_its_path(sink: AlertSink) -> None:
    status, answer = _post(sink.url("page"), json.dumps(PAYLOAD).encode())
    assert (status, answer) == (200, {"received": 1})
    (notification,) = sink.notifications()
    assert notification.receiver == "page"
    assert notification.status == "firing"
    (alert,) = notification.alerts
    assert alert.name == "TargetDown"
    assert alert.labels["job"] == "order-api"


def test_each_alert_becomes_one_line_naming_receiver_status_and_labels() -> None:
    assert format_notification(Notification("page", 0.0, "firing", ())) == []
    parsed = parse_notification("page", json.dumps(PAYLOAD).encode(), 0.0)
    (line,) = format_notification(parsed)
    assert " PAGE firing TargetDown job=order-api: Prometheus cannot scrape order-api" in line


def test_the_listener_hears_of_every_notification() -> None:
    heard: list[Notification] = []
    sink = AlertSink(on_notification=heard.append).start()
    try:
        _post(sink.url("ticket"), json.dumps(PAYLOAD).encode())
        wait_until(lambda: len(heard) == 1, 5, "the listener called")
    finally:
        sink.close()
    assert heard[0].receiver == "ticket"


def test_get_notifications_answers_what_was_received(sink: AlertSink) -> None:
    _post(sink.url("ticket"), json.dumps(PAYLOAD).encode())
    with urllib.request.urlopen(f"http://127.0.0.1:{sink.port}/notifications", timeout=5) as r:
        document = json.loads(r.read())
    assert [item["receiver"] for item in document] == ["ticket"]
    assert document[0]["alerts"][0]["labels"]["alertname"] == "TargetDown"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"alerts": "x"}', b'{"alerts": [1]}'],
    ids=["not-json", "not-an-object", "alerts-not-a-list", "alert-not-an-object"],
)
def test_a_body_that_is_not_a_notification_gets_a_json_400(sink: AlertSink, body: bytes) -> None:
    status, answer = _post(sink.url("page"), body)
    assert status == 400
    assert answer["error"]["message"]
    assert sink.notifications() == []


def test_a_body_over_the_limit_gets_a_413_unread(sink: AlertSink) -> None:
    # Only the announced length is sent: the sink answers before reading any body.
    connection = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
    try:
        connection.putrequest("POST", "/page")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert "1 MiB" in answer["error"]["message"]
    assert sink.notifications() == []


def test_a_post_outside_a_receiver_path_is_a_404(sink: AlertSink) -> None:
    status, _ = _post(f"http://127.0.0.1:{sink.port}/../x/y", json.dumps(PAYLOAD).encode())
    assert status == 404


def test_the_alert_sink_command_prints_each_alert_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out.txt"
    service = spawn(
        ServiceSpec(
            name="alert-sink",
            command=[
                *module_command("otel_stack"),
                "alert-sink",
                "--listen",
                f"127.0.0.1:{port}",
            ],
            env=child_environ({"PYTHONUNBUFFERED": "1"}),
            log_path=out,
            ready=lambda: True,
            ready_description="started",
            cwd=REPO,
        )
    )
    try:
        wait_until(lambda: "alert sink on" in out.read_text(), 20, "the sink listening")
        status, _ = _post(f"http://127.0.0.1:{port}/page", json.dumps(PAYLOAD).encode())
        assert status == 200
        wait_until(lambda: "PAGE firing TargetDown" in out.read_text(), 5, "the page printed")
    finally:
        code = service.stop(grace=10.0)
    assert code == 0, out.read_text()
