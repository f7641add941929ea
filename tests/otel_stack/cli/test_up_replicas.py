"""`otel-stack up --replicas N --db postgresql://…`: N instances of each, discovered by file_sd."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from otel_stack.harness import local_dns
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.running import free_port
from tests.otel_stack.cli.stack_run import (
    UpPorts,
    port_is_free,
    processes_using,
    run_cli,
    up_command,
)
from tests.support import REPO
from tests.support.polling import wait_until
from tests.support.tools import require_tool

REPLICAS = 2


def _free_runs(count: int, length: int) -> list[int]:
    """`count` base ports, each followed by `length - 1` free ports, all distinct."""
    bases: list[int] = []
    taken: set[int] = set()
    while len(bases) < count:
        base = free_port()
        run = set(range(base, base + length))
        if base + length <= 65535 and not run & taken and all(map(port_is_free, run)):
            bases.append(base)
            taken |= run
    return bases


def _active_targets(prometheus_url: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets", timeout=2) as response:
            body = json.load(response)
    except OSError:
        return []
    return list(body["data"]["activeTargets"])


def test_replicas_on_sqlite_are_refused_in_one_line(tmp_path: Path) -> None:
    result = run_cli([sys.executable, "-m", "otel_stack", "up", "--replicas", "2"], timeout=30)

    assert result.returncode == 2
    assert "--replicas 2 needs --db postgresql://" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_replica_is_discovered_by_prometheus_and_counted_in_the_view(
    postgres_url: str, tmp_path: Path
) -> None:
    require_tool("prometheus")
    # Replicas take consecutive ports after each base; Prometheus, Alertmanager, sink one each.
    ports = UpPorts(*_free_runs(6, REPLICAS))
    gateway, metrics = ports.gateway, ports.metrics
    data_dir = tmp_path / "stack"
    command = up_command(
        ports,
        data_dir,
        f"--replicas={REPLICAS}",
        f"--db={postgres_url}",
        "--rate=20",
        "--refresh=1",
        "--duration=60",
    )
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=child_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    expected = {("web-gateway", f"127.0.0.1:{gateway + i}") for i in range(REPLICAS)} | {
        ("order-api", f"127.0.0.1:{metrics + i}") for i in range(REPLICAS)
    }
    try:
        prometheus_url = f"http://127.0.0.1:{ports.prometheus}"

        def all_up() -> bool:
            assert process.poll() is None, process.communicate()
            targets = _active_targets(prometheus_url)
            up = {
                (t["labels"]["job"], t["labels"]["instance"])
                for t in targets
                if t["health"] == "up"
            }
            return up == expected

        wait_until(all_up, 60, "Prometheus to scrape every replica")
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr
    file_sd = json.loads((data_dir / "targets" / "order-api.json").read_text())
    assert file_sd[0]["targets"] == [f"127.0.0.1:{metrics + i}" for i in range(REPLICAS)]
    for name in ("order-api-1", "order-api-2", "web-gateway-1", "web-gateway-2"):
        assert (data_dir / f"{name}.log").is_file()
    assert "service.instance.id" not in stderr
    # The gateways dial one DNS name where dnsmasq is installed (CI: REQUIRE_DNSMASQ), else a list.
    if local_dns.find_binary() is not None:
        assert "order-apis behind dns://127.0.0.1:" in stdout
        assert f"127.0.0.2:{ports.grpc})" in stdout
    else:
        assert "dnsmasq not found" in stdout
    for i in range(REPLICAS):
        assert f"traffic to http://127.0.0.1:{gateway + i}:" in stdout
        # The live view has a row per instance beside the sums.
        assert f"web-gateway 127.0.0.1:{gateway + i}" in stdout
        assert f"order-api 127.0.0.1:{metrics + i}" in stdout
    assert processes_using(data_dir) == []
