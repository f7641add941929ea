"""`otel-stack up` end to end: services, Prometheus, traffic, live view, clean shutdown (up.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_stack.harness.child_environ import child_environ
from tests.otel_stack.cli.stack_run import (
    UpPorts,
    alertmanager_expected,
    port_is_free,
    processes_using,
    prometheus_expected,
    run_cli,
    up_command,
)
from tests.support import REPO
from tests.support.polling import wait_until

ROW = re.compile(
    r"^(?P<name>(?:GET|POST) \S+|CreateOrder|GetOrder|ListOrders)\s+(?P<rate>\d+\.\d)\s"
)


@dataclass(frozen=True)
class UpRun:
    """A finished `up --duration` run."""

    result: subprocess.CompletedProcess[str]
    ports: UpPorts
    data_dir: Path


@pytest.fixture(scope="module")
def up_run(tmp_path_factory: pytest.TempPathFactory) -> UpRun:
    ports = UpPorts.free()
    data_dir = tmp_path_factory.mktemp("up") / "stack"
    result = run_cli(
        up_command(ports, data_dir, "--duration", "8", "--refresh", "1", "--rate", "25"),
        timeout=90,
        # `none` as a user would set it: the services still serve /metrics for the view.
        # Traces on (printed to the services' logs), so the view shows trace ids.
        environ={"OTEL_METRICS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "console"},
    )
    return UpRun(result, ports, data_dir)


def _live_rates(stdout: str) -> dict[str, list[float]]:
    """Rates per row name in every live view block (the final summary excluded)."""
    live = stdout.split("\nsummary:", maxsplit=1)[0]
    rates: dict[str, list[float]] = {}
    for line in live.splitlines():
        match = ROW.match(line)
        if match:
            rates.setdefault(match["name"], []).append(float(match["rate"]))
    return rates


def test_up_runs_with_metrics_exporter_none(up_run: UpRun) -> None:
    order_api_log = (up_run.data_dir / "order-api.log").read_text()
    assert "metrics prometheus" in order_api_log, order_api_log
    assert "order-api ready in" in up_run.result.stdout


def test_up_exits_zero_when_the_duration_ends(up_run: UpRun) -> None:
    assert up_run.result.returncode == 0, up_run.result.stdout + up_run.result.stderr
    assert "duration of 8s reached" in up_run.result.stdout


def test_live_view_shows_traffic_on_the_main_routes_and_rpcs(up_run: UpRun) -> None:
    rates = _live_rates(up_run.result.stdout)
    for name in (
        "GET /orders/<order_id>",
        "POST /orders",
        "GET /orders",
        "GetOrder",
        "CreateOrder",
    ):
        assert max(rates.get(name, [0.0])) > 0, f"{name}: {rates.get(name)}"


def test_live_view_is_printed_every_refresh(up_run: UpRun) -> None:
    assert up_run.result.stdout.count("GATEWAY ROUTE") >= 6  # ~8 views + the summary


def test_output_has_no_control_codes_when_stdout_is_not_a_tty(up_run: UpRun) -> None:
    assert "\x1b" not in up_run.result.stdout
    assert "\r" not in up_run.result.stdout


def test_output_shows_both_metrics_urls(up_run: UpRun) -> None:
    stdout = up_run.result.stdout
    assert f"web-gateway metrics: http://127.0.0.1:{up_run.ports.gateway}/metrics" in stdout
    assert f"order-api metrics: http://127.0.0.1:{up_run.ports.metrics}/metrics" in stdout


def test_summary_counts_orders_created_and_generated_requests(up_run: UpRun) -> None:
    summary = up_run.result.stdout.split("\nsummary:")[1]
    created = re.search(r"orders created: (\d+) total", summary)
    assert created is not None and int(created[1]) > 0
    assert "traffic generator:" in summary and "create order" in summary


def test_prometheus_is_started_and_its_url_shown(up_run: UpRun) -> None:
    if not prometheus_expected():
        pytest.skip("prometheus not on PATH")
    stdout = up_run.result.stdout
    assert "prometheus ready in" in stdout
    assert f"prometheus: http://127.0.0.1:{up_run.ports.prometheus}" in stdout
    assert (up_run.data_dir / "prometheus.yml").is_file()


def test_alertmanager_and_the_alert_sink_are_started_and_shown(up_run: UpRun) -> None:
    if not alertmanager_expected():
        pytest.skip("no Alertmanager found (make alertmanager)")
    stdout = up_run.result.stdout
    assert "alertmanager ready in" in stdout
    assert f"alertmanager: http://127.0.0.1:{up_run.ports.alertmanager}" in stdout
    sink = f"http://127.0.0.1:{up_run.ports.alert_sink}"
    assert f"page -> {sink}/page" in stdout and f"ticket -> {sink}/ticket" in stdout
    config = (up_run.data_dir / "prometheus.yml").read_text()
    assert f"127.0.0.1:{up_run.ports.alertmanager}" in config


def test_the_live_view_shows_alerts_and_notifications(up_run: UpRun) -> None:
    if not alertmanager_expected():
        pytest.skip("no Alertmanager found (make alertmanager)")
    live = up_run.result.stdout.split("\nsummary:", maxsplit=1)[0]
    assert "ALERTS (prometheus)" in live
    assert "NOTIFICATIONS (alert sink" in live


def test_services_log_into_the_data_dir(up_run: UpRun) -> None:
    for name in ("order-api.log", "web-gateway.log"):
        assert (up_run.data_dir / name).stat().st_size > 0
    assert (up_run.data_dir / "orders.db").is_file()


def test_every_child_stops_cleanly(up_run: UpRun) -> None:
    stopped = re.search(r"^stopped: (.*)$", up_run.result.stdout, re.MULTILINE)
    assert stopped is not None
    assert "web-gateway exit 0" in stopped[1] and "order-api exit 0" in stopped[1]


def test_no_child_process_outlives_up(up_run: UpRun) -> None:
    assert processes_using(up_run.data_dir) == []


def test_ports_are_free_again(up_run: UpRun) -> None:
    busy = [port for port in up_run.ports.all() if not port_is_free(port)]
    assert busy == []


def _start_up(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """Start `up` without a duration, stdout to a file; return once the live view shows."""
    ports, data_dir, out = UpPorts.free(), tmp_path / "stack", tmp_path / "stdout.txt"
    command = up_command(ports, data_dir, "--refresh", "0.5", "--no-prometheus")
    with out.open("w") as stdout:
        process = subprocess.Popen(
            command, cwd=REPO, env=child_environ(), stdout=stdout, stderr=subprocess.PIPE, text=True
        )
    try:
        wait_until(lambda: "GATEWAY ROUTE" in out.read_text(), 40, "the first live view")
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return process, data_dir, out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_stack_and_prints_the_summary(
    tmp_path: Path, signum: signal.Signals
) -> None:
    process, data_dir, out = _start_up(tmp_path)
    began = time.monotonic()
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert time.monotonic() - began < 20
    assert "(interrupted)" in out.read_text()
    assert processes_using(data_dir) == []


def test_a_service_dying_ends_up_with_an_error_naming_it(tmp_path: Path) -> None:
    process, data_dir, out = _start_up(tmp_path)
    pid = re.search(r"order-api ready in \S+ \(pid (\d+)", out.read_text())
    assert pid is not None
    os.kill(int(pid[1]), signal.SIGKILL)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    assert stderr.splitlines()[0] == "otel-stack: order-api exited unexpectedly with code -9"
    assert processes_using(data_dir) == []


TRACE_ROW = re.compile(r"^(?:GET|POST) /orders\S*\s.*\s(?P<trace>[0-9a-f]{32})$")


def test_live_view_shows_the_slowest_recent_trace_of_a_route(up_run: UpRun) -> None:
    live = up_run.result.stdout.split("\nsummary:", maxsplit=1)[0]
    assert "SLOWEST TRACE" in live
    traces = {m["trace"] for line in live.splitlines() if (m := TRACE_ROW.match(line))}
    assert traces, live
    gateway_log = (up_run.data_dir / "web-gateway.log").read_text()
    # Each one is a trace the gateway exported (the console exporter prints 0x-prefixed ids).
    assert all(f'"trace_id": "0x{trace}"' in gateway_log for trace in traces)
