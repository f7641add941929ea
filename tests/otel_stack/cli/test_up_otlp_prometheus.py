"""`otel-stack up --otlp-prometheus`: the services push into Prometheus, the view reads it.

One run with the tested Prometheus release (skipped without it, failed with
REQUIRE_PROMETHEUS=1): the live view shows the order-api's quantiles from
native histograms, and the summary, read after the services' last export,
counts exactly the orders the traffic generator got a 201 for.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from otel_stack.deploy import prometheus_config
from tests.otel_stack.cli.stack_run import UpPorts, processes_using, run_cli, up_command
from tests.support.tools import require_tool

NATIVE_NOTE = "order-api latency like 7.3ms: the service's native histogram"
# A measured latency in the live view: 850us, 12.3ms, 1.25s.
MEASURED = re.compile(r"^\d+(?:\.\d+)?(?:us|ms|s)$")


@dataclass(frozen=True)
class Run:
    result: subprocess.CompletedProcess[str]
    ports: UpPorts
    data_dir: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    require_tool("prometheus")
    ports = UpPorts.free()
    data_dir = tmp_path_factory.mktemp("up-otlp-prometheus") / "stack"
    command = up_command(
        ports, data_dir, "--otlp-prometheus", "--no-alertmanager", "--duration", "10"
    )
    return Run(run_cli([*command, "--refresh", "1"], timeout=120), ports, data_dir)


def _summary(run: Run) -> str:
    return run.result.stdout.split("\nsummary:", maxsplit=1)[1]


def test_up_otlp_prometheus_exits_zero_and_leaves_nothing_running(run: Run) -> None:
    assert run.result.returncode == 0, run.result.stdout + run.result.stderr
    assert processes_using(run.data_dir) == []


def test_the_services_push_to_prometheus_with_exponential_histograms(run: Run) -> None:
    log = (run.data_dir / "order-api.log").read_text()
    assert "metrics otlp" in log, log
    config = yaml.safe_load((run.data_dir / "prometheus.yml").read_text())
    assert config["otlp"] == prometheus_config.otlp_settings()["otlp"]
    targets_file = Path(config["scrape_configs"][0]["file_sd_configs"][0]["files"][0])
    assert json.loads(targets_file.read_text())[0]["targets"] == [
        f"127.0.0.1:{run.ports.prometheus}"
    ]


def test_the_live_view_shows_native_quantiles_of_the_rpcs(run: Run) -> None:
    live = run.result.stdout.split("\nsummary:", maxsplit=1)[0]
    assert NATIVE_NOTE in live
    rows = [line.split() for line in live.splitlines() if line.startswith("GetOrder ")]
    assert any(MEASURED.match(row[-1]) for row in rows), rows


def test_the_summary_counts_every_order_the_generator_got_a_201_for(run: Run) -> None:
    summary = _summary(run)
    created = re.search(r"orders created: (\d+) total", summary)
    answered = re.search(r"^\s+POST\s+/orders\s+201\s+(\d+)$", summary, re.MULTILINE)
    assert created is not None and answered is not None, summary
    assert int(created[1]) == int(answered[1]) > 0
