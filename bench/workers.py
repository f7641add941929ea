"""Suite 10: worker processes — 2 processes per service against 1, and the merged scrape at 4.

Every variant is a pair of real service processes under `opentelemetry-instrument`
started by the `otel-stack` harness: telemetry off, the lean profile and the default
profile, each with GATEWAY_PROCESSES=ORDER_API_PROCESSES=1 and =2 (the order-api
runs as many workers as the gateway, so it is not the bottleneck of the 2-process
runs). Closed-loop `wrk` load on `GET /orders/<id>` takes turns between the variants
round after round, with more connections than workers so the kernel's SO_REUSEPORT
hashing spreads them; CPU per request counts the supervisor and every worker. A
last stack of 4 workers each (default profile) measures what a merged scrape costs:
time and size of each service's `/metrics` against the same traffic on 1 process.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

from bench.end_to_end import WARMUP_SECONDS, wrk
from otel_stack.harness.http_call import create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.running import Stack, running_stack

CONNECTIONS = 16
PROFILES = {
    "off": {"OTEL_SDK_DISABLED": "true"},
    "lean": {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"},
    "default": {},
}
SCRAPE_WORKERS = 4
SCRAPES = 20


def _variant(profile: str, processes: int) -> str:
    return f"{profile}_{processes}"


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a service's process and its worker processes."""
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children()):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _measured(url: str, seconds: int, pids: Mapping[str, int]) -> dict[str, Any]:
    before = {name: _tree_cpu_seconds(pid) for name, pid in pids.items()}
    figures: dict[str, Any] = wrk(url, seconds, CONNECTIONS)
    after = {name: _tree_cpu_seconds(pid) for name, pid in pids.items()}
    requests = max(figures.get("requests", 0.0), 1.0)
    figures["cpu_us_per_request"] = {
        name: (after[name] - before[name]) / requests * 1e6 for name in pids
    }
    return figures


@contextlib.contextmanager
def _stacks(directory: Path) -> Iterator[dict[str, Stack]]:
    with contextlib.ExitStack() as running:
        stacks: dict[str, Stack] = {}
        for processes in (1, 2):
            for profile, environ in PROFILES.items():
                name = _variant(profile, processes)
                (directory / name).mkdir()
                stacks[name] = running.enter_context(
                    running_stack(
                        directory / name,
                        launcher=True,
                        environ={**environ, "ACCESS_LOG": "off"},
                        worker_processes=processes,
                    )
                )
        yield stacks


def _throughput(quick: bool, directory: Path) -> dict[str, Any]:
    seconds, rounds = (3, 3) if quick else (5, 5)
    directory.mkdir(parents=True)
    with _stacks(directory) as stacks:
        urls = {
            name: f"{stack.gateway_url}/orders/{create_order(stack.gateway_url, EXAMPLE_ORDER)}"
            for name, stack in stacks.items()
        }
        for url in urls.values():
            wrk(url, WARMUP_SECONDS, CONNECTIONS)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in stacks}
        names = list(stacks)
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                pids = {service: process.pid for service, process in stacks[name].processes.items()}
                runs[name].append(_measured(urls[name], seconds, pids))
    throughput = {
        name: statistics.median(run["requests_per_second"] for run in rs)
        for name, rs in runs.items()
    }
    cpu = {
        name: {
            service: statistics.median(run["cpu_us_per_request"][service] for run in rs)
            for service in rs[0]["cpu_us_per_request"]
        }
        for name, rs in runs.items()
    }
    return {
        "connections": CONNECTIONS,
        "runs": runs,
        "throughput_rps": throughput,
        "two_to_one": {
            profile: throughput[_variant(profile, 2)] / throughput[_variant(profile, 1)]
            for profile in PROFILES
        },
        "ratio_to_off": {
            str(processes): {
                profile: throughput[_variant(profile, processes)]
                / throughput[_variant("off", processes)]
                for profile in PROFILES
            }
            for processes in (1, 2)
        },
        "cpu_us_per_request": cpu,
    }


def _scrape_ms(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return (time.perf_counter() - started) * 1000, size


def _scrapes(directory: Path) -> dict[str, Any]:
    """Scrape time and size of both services at 1 and at SCRAPE_WORKERS processes each."""
    figures: dict[str, Any] = {}
    directory.mkdir(parents=True)
    for processes in (1, SCRAPE_WORKERS):
        (directory / f"scrape_{processes}").mkdir()
        with running_stack(
            directory / f"scrape_{processes}",
            launcher=True,
            environ={"ACCESS_LOG": "off"},
            worker_processes=processes,
        ) as stack:
            order_id = create_order(stack.gateway_url, EXAMPLE_ORDER)
            # Enough requests that every worker has served some and has every series.
            wrk(f"{stack.gateway_url}/orders/{order_id}", WARMUP_SECONDS, CONNECTIONS)
            for service, url in (
                ("web-gateway", stack.gateway_url + "/metrics"),
                ("order-api", stack.order_api_metrics_url),
            ):
                taken = [_scrape_ms(url) for _ in range(SCRAPES)]
                figures.setdefault(service, {})[str(processes)] = {
                    "ms": statistics.median(ms for ms, _ in taken),
                    "bytes": taken[-1][1],
                }
    return figures


def run(quick: bool) -> dict[str, Any]:
    """Throughput and telemetry ratios at 1 and 2 processes; scrape cost at 1 and 4."""
    with tempfile.TemporaryDirectory() as tmp:
        throughput = _throughput(quick, Path(tmp) / "throughput")
        scrapes = _scrapes(Path(tmp) / "scrapes")
    return {**throughput, "scrape": scrapes, "scrape_workers": SCRAPE_WORKERS}
