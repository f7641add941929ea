"""Suites 3 to 5 over real sockets: throughput and latency, scrape cost under load, memory.

Three pairs of services run at once — one with OTEL_SDK_DISABLED=true, one with
full telemetry as deployed (under opentelemetry-instrument, Prometheus metrics
plus every trace over OTLP to a local receiver), and the same with 10% of
traces sampled — and closed-loop load from `wrk` alternates between them, so
all see the same machine state.
The processes and the OTLP receiver come from the `otel-stack` harness (`services/stack/`).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from services.stack.http_call import create_order
from services.stack.mix import EXAMPLE_ORDER
from services.stack.otlp_receiver import running_receiver
from services.stack.running import Stack, running_stack

_LATENCY_LINE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, connections: int = 16) -> dict[str, float]:
    """Closed-loop load with wrk: requests/s and latency percentiles in ms."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not on PATH: install it with `apt-get install wrk`")
    result = subprocess.run(
        [binary, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    figures: dict[str, float] = {}
    for line in result.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            figures["requests_per_second"] = float(line.split()[1])
        if "Non-2xx or 3xx responses" in line:
            figures["errors"] = float(line.split()[-1])
        match = _LATENCY_LINE.match(line)
        if match:
            figures[f"p{match[1]}_ms"] = float(match[2]) * _UNITS[match[3]]
    return figures


def _rss_mb(stack: Stack) -> dict[str, float]:
    return {
        name: psutil.Process(process.pid).memory_info().rss / 2**20
        for name, process in stack.processes.items()
    }


def _scrape_ms(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        size = len(response.read())
    return (time.perf_counter() - started) * 1000, size


@contextlib.contextmanager
def _stacks(directory: Path) -> Iterator[dict[str, Stack]]:
    with running_receiver() as (_receiver, port), contextlib.ExitStack() as stacks:
        full_env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        }
        sampled_env = {
            **full_env,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        }
        variants = {
            "off": (False, {"OTEL_SDK_DISABLED": "true"}),
            "full": (True, full_env),
            "full_sampled_10pct": (True, sampled_env),
        }
        running: dict[str, Stack] = {}
        for name, (launcher, environ) in variants.items():
            (directory / name).mkdir()
            running[name] = stacks.enter_context(
                running_stack(directory / name, launcher=launcher, environ=environ)
            )
        yield running


def run(quick: bool) -> dict[str, Any]:
    """Throughput/latency (alternating runs), scrape latency under load, RSS before and after."""
    seconds, pairs = (4, 2) if quick else (8, 3)
    with tempfile.TemporaryDirectory() as tmp, _stacks(Path(tmp)) as stacks:
        urls = {
            name: f"{stack.gateway_url}/orders/{create_order(stack.gateway_url, EXAMPLE_ORDER)}"
            for name, stack in stacks.items()
        }
        idle_rss = {name: _rss_mb(stack) for name, stack in stacks.items()}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in stacks}
        scrape_under_load: list[float] = []
        for _ in range(pairs):
            for name in stacks:
                if name == "full":
                    load = lambda: wrk(urls["full"], seconds)  # noqa: E731
                    runs[name].append(_with_scrapes(stacks[name], load, scrape_under_load))
                else:
                    runs[name].append(wrk(urls[name], seconds))
        idle_scrapes = [_scrape_ms(stacks["full"].gateway_url + "/metrics") for _ in range(20)]
        memory = _memory(stacks, urls, quick)
        memory["idle_mb"] = idle_rss
    throughput = {
        name: statistics.median(r["requests_per_second"] for r in rs) for name, rs in runs.items()
    }
    return {
        "runs": runs,
        "throughput_rps": throughput,
        "throughput_ratio_full_vs_off": throughput["full"] / throughput["off"],
        "throughput_ratio_sampled_vs_off": throughput["full_sampled_10pct"] / throughput["off"],
        "p50_ms": {name: statistics.median(r["p50_ms"] for r in rs) for name, rs in runs.items()},
        "p99_ms": {name: statistics.median(r["p99_ms"] for r in rs) for name, rs in runs.items()},
        "gateway_scrape_idle_ms": statistics.median(ms for ms, _ in idle_scrapes),
        "gateway_scrape_under_load_ms": statistics.median(scrape_under_load),
        "gateway_scrape_bytes": idle_scrapes[-1][1],
        "memory": memory,
    }


def _with_scrapes(
    stack: Stack, load: Callable[[], dict[str, float]], samples: list[float]
) -> dict[str, float]:
    """Run `load` while scraping the gateway's /metrics every half second."""
    done = threading.Event()

    def scrape_loop() -> None:
        while not done.wait(0.5):
            samples.append(_scrape_ms(stack.gateway_url + "/metrics")[0])

    thread = threading.Thread(target=scrape_loop)
    thread.start()
    try:
        return load()
    finally:
        done.set()
        thread.join()


def _memory(stacks: dict[str, Stack], urls: dict[str, str], quick: bool) -> dict[str, Any]:
    """RSS of each service of the full-telemetry pair after warm-up and after many more requests."""
    target = 20_000 if quick else 100_000
    stack, url = stacks["full"], urls["full"]
    after_warmup = _rss_mb(stack)
    sent = 0
    while sent < target:
        result = wrk(url, 10)
        sent += int(result["requests_per_second"] * 10)
    return {"requests": sent, "after_warmup_mb": after_warmup, "after_requests_mb": _rss_mb(stack)}
