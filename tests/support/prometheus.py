"""Real Prometheus binaries for tests: promtool, and a Prometheus server on a free port.

The binaries are the release users run (`otel_stack.deploy.go_tools.PROMETHEUS`,
built into the tool cache by `make prometheus`), never whatever is on PATH.
Without them a test skips, saying how to build them; with REQUIRE_PROMETHEUS=1
(as in CI) it fails instead, so nothing skips silently there.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otel_stack.harness import local_prometheus, processes
from otel_stack.harness.running import free_port
from tests.support.polling import wait_until
from tests.support.tools import require_tool


def promtool(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `promtool ARGS…` and return its result (not checked)."""
    return subprocess.run(
        [require_tool("prometheus", "promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@dataclass(frozen=True)
class Prometheus:
    """A Prometheus server started by a test, queried through its HTTP API."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH and return its `data`."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            document = json.loads(response.read())
        assert document["status"] == "success", document
        return document["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; return its result vector."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def scraped_after(self, job: str, wall_time: float) -> bool:
        """Whether a successful scrape of `job` started after `wall_time` (time.time())."""
        # timestamp() of a raw selector is the scrape's start time.
        started = self.query(f'timestamp(up{{job="{job}"}})')
        succeeded = self.query(f'up{{job="{job}"}}')
        return (
            bool(started and succeeded)
            and float(started[0]["value"][1]) > wall_time
            and float(succeeded[0]["value"][1]) == 1
        )


def assert_promtool_clean(text: str) -> None:
    """`promtool check metrics` reports nothing for this exposition."""
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr
    )


@contextmanager
def running_prometheus(directory: Path, config_text: str) -> Iterator[Prometheus]:
    """Run Prometheus with this configuration on a free loopback port until the block ends."""
    binary = require_tool("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(config_text)
    port = free_port()
    spec = local_prometheus.spec(binary, directory, port=port, config_path=config_path)
    service = processes.start(spec, timeout=30)
    try:
        yield Prometheus(f"http://127.0.0.1:{port}", service.process, spec.log_path)
    finally:
        service.stop(grace=15)


def wait_for_fresh_scrapes(server: Prometheus, jobs: list[str], timeout: float = 20) -> None:
    """Wait until every job has been scraped successfully after now."""
    now = time.time()
    wait_until(
        lambda: all(server.scraped_after(job, now) for job in jobs),
        timeout,
        f"a scrape of {', '.join(jobs)} after the traffic",
    )


# Range selectors and `for:` durations, e.g. [5m] and 10m.
RANGE = re.compile(r"\[(\d+)([smhdw])\]")
DURATION = re.compile(r"^(\d+)([smhdw])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def scaled_duration(text: str, factor: float) -> str:
    """A Prometheus duration such as `5m` times `factor`, in whole seconds (at least 1s)."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"unsupported duration {text!r}")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    return f"{max(1, round(seconds * factor))}s"


def write_scaled_rules(rule_files: list[str], directory: Path, factor: float) -> list[str]:
    """Copies of the rule files with every range and `for:` multiplied by `factor`; their paths.

    The rules are the repository's, generated afresh on every run: only time is compressed
    (factor 1/60 turns 5m windows into 5s and `for: 10m` into 10s).
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source in map(Path, rule_files):
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        for group in document["groups"]:
            for rule in group["rules"]:
                rule["expr"] = RANGE.sub(
                    lambda m: f"[{scaled_duration(m.group(1) + m.group(2), factor)}]",
                    rule["expr"],
                )
                if "for" in rule:
                    rule["for"] = scaled_duration(rule["for"], factor)
        target = directory / source.name
        target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        written.append(str(target))
    return written
