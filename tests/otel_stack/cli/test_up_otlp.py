"""`otel-stack up --otlp`: the services push to a local collector, the live view reads it."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from otel_stack.deploy import prometheus_config
from otel_stack.harness import local_collector
from otel_stack.harness.local_collector import CollectorPorts
from otel_stack.harness.otlp_receiver import OtlpReceiver, running_receiver
from tests.otel_stack.cli.stack_run import (
    UpPorts,
    processes_using,
    prometheus_expected,
    run_cli,
    up_command,
)
from tests.support.tools import require_tool

ROW = re.compile(r"^(?P<name>GET /orders/<order_id>|CreateOrder)\s+(?P<rate>\d+\.\d)\s", re.M)


@dataclass(frozen=True)
class OtlpRun:
    result: subprocess.CompletedProcess[str]
    collector: CollectorPorts
    data_dir: Path
    traces: OtlpReceiver


@pytest.fixture(scope="module")
def otlp_run(tmp_path_factory: pytest.TempPathFactory) -> OtlpRun:
    Path(require_tool("collector"))  # built once here, not inside `up`'s startup timeout
    ports, collector_ports = UpPorts.free(), CollectorPorts.free()
    data_dir = tmp_path_factory.mktemp("up-otlp") / "stack"
    with running_receiver() as (traces, traces_port):
        result = run_cli(
            up_command(ports, data_dir, "--otlp", "--duration", "8", "--refresh", "1"),
            timeout=90,
            environ=local_collector.config_environ(collector_ports, f"127.0.0.1:{traces_port}"),
        )
        return OtlpRun(result, collector_ports, data_dir, traces)


def test_up_otlp_exits_zero_with_the_collector_stopped_cleanly(otlp_run: OtlpRun) -> None:
    stdout = otlp_run.result.stdout
    assert otlp_run.result.returncode == 0, stdout + otlp_run.result.stderr
    stopped = re.search(r"^stopped: (.*)$", stdout, re.MULTILINE)
    assert stopped is not None and "otel-collector exit 0" in stopped[1]
    assert processes_using(otlp_run.data_dir) == []


def test_live_view_reads_traffic_from_the_collector(otlp_run: OtlpRun) -> None:
    stdout = otlp_run.result.stdout
    assert f"collector (both services): http://{otlp_run.collector.prometheus_target}" in stdout
    live = stdout.split("\nsummary:", maxsplit=1)[0]
    rates = {name: float(rate) for name, rate in ROW.findall(live) if float(rate) > 0}
    assert set(rates) == {"GET /orders/<order_id>", "CreateOrder"}


def test_prometheus_scrapes_the_collector_instead_of_the_services(otlp_run: OtlpRun) -> None:
    if not prometheus_expected():
        pytest.skip("prometheus not on PATH")
    config = yaml.safe_load((otlp_run.data_dir / "prometheus.yml").read_text())
    # Each job's targets are in the file_sd file `up` wrote beside the config.
    jobs = {
        job["job_name"]: json.loads(Path(job["file_sd_configs"][0]["files"][0]).read_text())[0][
            "targets"
        ]
        for job in config["scrape_configs"]
    }
    assert jobs == prometheus_config.collector_targets(
        otlp_run.collector.prometheus_target, otlp_run.collector.telemetry_target
    )


def test_traces_go_through_the_collector(otlp_run: OtlpRun) -> None:
    assert otlp_run.traces.spans("web-gateway") and otlp_run.traces.spans("order-api")


def test_the_summary_counts_every_order_the_generator_got_a_201_for(otlp_run: OtlpRun) -> None:
    # Read after the services stopped: their last export has reached the collector.
    summary = otlp_run.result.stdout.split("\nsummary:", maxsplit=1)[1]
    created = re.search(r"orders created: (\d+) total", summary)
    answered = re.search(r"^\s+POST\s+/orders\s+201\s+(\d+)$", summary, re.MULTILINE)
    assert created is not None and answered is not None, summary
    assert int(created[1]) == int(answered[1]) > 0
