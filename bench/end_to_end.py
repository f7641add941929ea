"""Suites 3 to 5 over real sockets: what each telemetry profile costs, scrape under load, memory.

Every variant is a pair of real service processes under `opentelemetry-instrument`
(the way they are deployed), differing only in standard `OTEL_*` variables (and
two in GATEWAY_THREADS): telemetry off; the lean profile; the default
(Prometheus metrics, no traces); the default with 10% and with every trace over
OTLP; and the full profile with one piece turned off at a time, which splits
its overhead into upstream Flask, upstream gRPC, span recording and export, and
the project's own layer (lean without access lines against off, and the access
lines by themselves). Spans go to an OTLP receiver running as a process of its
own (`traced_unsampled`, traces exported with the `always_off` sampler, is what a
request that a sampler drops costs). Closed-loop load from `wrk` takes turns
between the variants round after round, so all see the same machine state;
each run records requests/s, latency and the CPU time each process spent per
request. Then extra rounds of `default`, `traced_unsampled` and `unsampled_floor`
alone, in adjacent windows (`PAIRED`), measure what an unsampled request costs
over the default with a standard error of 10-20 µs on the 2-core VM (across the
rounds of all variants the same difference spreads over up to hundreds of µs),
and what the least an unsampled request can do costs end to end:
`unsampled_floor` is `traced_unsampled` with the project's gRPC tracing replaced
by suite 13's floor (`bench.floor_services`). The processes come from the
`otel-stack` harness (`otel_stack/harness/`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

from otel_stack.harness import otlp_receiver, processes
from otel_stack.harness.http_call import create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.processes import Service
from otel_stack.harness.running import (
    GATEWAY,
    ORDER_API,
    Stack,
    free_port,
    running_stack,
)

RECEIVER = otlp_receiver.PROCESS_NAME
CONNECTIONS = 8
WARMUP_SECONDS = 2
DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"

# What each variant is, in the order they take turns; `full` is the reference of the
# breakdown and of the scrape and memory suites.
DESCRIPTIONS = {
    "off": "OTEL_SDK_DISABLED=true",
    "lean": f"{DISABLED}=flask: the metric contract and runtime metrics, no traces",
    "lean_no_access_log": "lean with ACCESS_LOG=off",
    "default": "Prometheus metrics (contract + upstream Flask + runtime), no traces",
    "traced_unsampled": (
        "default + traces exported over OTLP with OTEL_TRACES_SAMPLER=always_off "
        "(every span started, none recorded)"
    ),
    "sampled_10pct": "default + 10% of traces over OTLP (parentbased_traceidratio 0.1)",
    "full": "default + every trace over OTLP",
    "full_no_flask": f"full with {DISABLED}=flask",
    "full_no_grpc": f"full with {DISABLED}=grpc_client,grpc_server",
    "full_big_batches": "full with OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2048, _MAX_QUEUE_SIZE=8192",
    "default_8_threads": "default with GATEWAY_THREADS=8 instead of 64",
    "off_8_threads": "off with GATEWAY_THREADS=8 instead of 64",
}

# The variants whose differences are an unsampled request's cost and its floor, measured in
# extra rounds of their own (the order rotating), and how many of them.
FLOOR = "unsampled_floor"
PAIRED = ("default", "traced_unsampled", FLOOR)
PAIRED_ROUNDS = 12

_LATENCY_LINE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$")
_REQUESTS_LINE = re.compile(r"^\s*(\d+) requests in ")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def variant_environ(name: str, otlp_endpoint: str) -> dict[str, str]:
    """The variables of one variant (on top of a clean environment)."""
    traces = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint}
    return {
        "off": {"OTEL_SDK_DISABLED": "true"},
        "lean": {DISABLED: "flask"},
        "lean_no_access_log": {DISABLED: "flask", "ACCESS_LOG": "off"},
        "default": {},
        "traced_unsampled": {**traces, "OTEL_TRACES_SAMPLER": "always_off"},
        "sampled_10pct": {
            **traces,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        },
        "full": traces,
        "full_no_flask": {**traces, DISABLED: "flask"},
        "full_no_grpc": {**traces, DISABLED: "grpc_client,grpc_server"},
        "full_big_batches": {
            **traces,
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2048",
            "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
        },
        "default_8_threads": {"GATEWAY_THREADS": "8"},
        "off_8_threads": {"OTEL_SDK_DISABLED": "true", "GATEWAY_THREADS": "8"},
    }[name]


def wrk(url: str, seconds: int, connections: int = CONNECTIONS) -> dict[str, float]:
    """Closed-loop load with wrk: requests, requests/s and latency percentiles in ms."""
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
        if match := _REQUESTS_LINE.match(line):
            figures["requests"] = float(match[1])
        if match := _LATENCY_LINE.match(line):
            figures[f"p{match[1]}_ms"] = float(match[2]) * _UNITS[match[3]]
    return figures


def _cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    times = {name: psutil.Process(pid).cpu_times() for name, pid in pids.items()}
    return {name: cpu.user + cpu.system for name, cpu in times.items()}


def _measured_run(url: str, seconds: int, pids: Mapping[str, int]) -> dict[str, Any]:
    """One wrk run, with the CPU µs each process spent per request during it."""
    before = _cpu_seconds(pids)
    figures: dict[str, Any] = wrk(url, seconds)
    after = _cpu_seconds(pids)
    requests = max(figures.get("requests", 0.0), 1.0)
    figures["cpu_us_per_request"] = {
        name: (after[name] - before[name]) / requests * 1e6 for name in pids
    }
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
def _receiver(directory: Path) -> Iterator[tuple[Service, int]]:
    """The OTLP receiver as a process of its own, discarding what it receives."""
    port = free_port()
    service = processes.start(otlp_receiver.process_spec(directory, port))
    try:
        yield service, port
    finally:
        service.stop(grace=10.0)


def floor_stack(
    directory: Path, environ: Mapping[str, str]
) -> contextlib.AbstractContextManager[Stack]:
    """The pair run through `bench.floor_services`, under the launcher like the others."""
    return running_stack(directory, launcher=True, environ=environ, through="bench.floor_services")


@contextlib.contextmanager
def _stacks(directory: Path) -> Iterator[tuple[dict[str, Stack], int]]:
    with _receiver(directory) as (receiver, port), contextlib.ExitStack() as stacks:
        running: dict[str, Stack] = {}
        otlp = f"http://127.0.0.1:{port}"
        for name in DESCRIPTIONS:
            (directory / name).mkdir()
            environ = variant_environ(name, otlp)
            running[name] = stacks.enter_context(
                running_stack(directory / name, launcher=True, environ=environ)
            )
        (directory / FLOOR).mkdir()
        floor_environ = variant_environ("traced_unsampled", otlp)
        running[FLOOR] = stacks.enter_context(floor_stack(directory / FLOOR, floor_environ))
        yield running, receiver.pid


def run(quick: bool) -> dict[str, Any]:
    """Each variant's throughput, latency and CPU per request; the breakdown; scrape; memory."""
    seconds, rounds = (3, 3) if quick else (5, 5)
    with tempfile.TemporaryDirectory() as tmp, _stacks(Path(tmp)) as (stacks, receiver_pid):
        urls = {
            name: f"{stack.gateway_url}/orders/{create_order(stack.gateway_url, EXAMPLE_ORDER)}"
            for name, stack in stacks.items()
        }
        for url in urls.values():  # first requests set up connections, threads, caches
            wrk(url, WARMUP_SECONDS)
        idle_rss = {name: _rss_mb(stacks[name]) for name in ("off", "full")}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in DESCRIPTIONS}
        scrape_under_load: list[float] = []
        names = list(DESCRIPTIONS)

        def measure(name: str) -> dict[str, Any]:
            pids = {service: process.pid for service, process in stacks[name].processes.items()}
            pids[RECEIVER] = receiver_pid
            return _measured_run(urls[name], seconds, pids)

        for round_number in range(rounds):
            shift = round_number % len(names)  # no variant always runs first
            for name in names[shift:] + names[:shift]:
                if name == "full":
                    load = functools.partial(measure, name)
                    runs[name].append(_with_scrapes(stacks[name], load, scrape_under_load))
                else:
                    runs[name].append(measure(name))
        paired: dict[str, list[dict[str, Any]]] = {name: [] for name in PAIRED}
        for round_number in range(len(PAIRED) if quick else PAIRED_ROUNDS):
            shift = round_number % len(PAIRED)
            for name in PAIRED[shift:] + PAIRED[:shift]:
                paired[name].append(measure(name))
        idle_scrapes = [_scrape_ms(stacks["full"].gateway_url + "/metrics") for _ in range(20)]
        memory = _memory(stacks, urls, quick)
        memory["idle_mb"] = idle_rss
    return {
        **summarise(runs),
        **_scrape_figures(idle_scrapes, scrape_under_load),
        "memory": memory,
        "unsampled_paired": unsampled_paired(paired),
    }


def unsampled_paired(runs: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The paired rounds' differences per service, round by round: median and spread.

    At the top level `traced_unsampled` − `default`; under "floor" `unsampled_floor` −
    `default` and under "over_floor" `traced_unsampled` − `unsampled_floor` (when the
    rounds have the floor).
    """
    unsampled, default = runs[PAIRED[1]], runs[PAIRED[0]]
    figures: dict[str, Any] = {"rounds": len(unsampled), **_differences(unsampled, default)}
    if runs.get(FLOOR):
        figures["floor"] = _differences(runs[FLOOR], default)
        figures["over_floor"] = _differences(unsampled, runs[FLOOR])
    return figures


def _differences(
    with_it: list[dict[str, Any]], without_it: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for service in (GATEWAY, ORDER_API):
        differences = [
            a["cpu_us_per_request"][service] - b["cpu_us_per_request"][service]
            for a, b in zip(with_it, without_it, strict=True)
        ]
        spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
        figures[service] = {
            "per_round_us": differences,
            "median_us": statistics.median(differences),
            "stdev_us": spread,
            "standard_error_us": spread / math.sqrt(len(differences)),
        }
    return figures


def summarise(runs: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per variant, ratios to `off`, and the full profile's overhead split by piece."""
    throughput = {
        name: statistics.median(r["requests_per_second"] for r in rs) for name, rs in runs.items()
    }
    cpu = {
        name: {
            service: statistics.median(r["cpu_us_per_request"][service] for r in rs)
            for service in (GATEWAY, ORDER_API, RECEIVER)
        }
        for name, rs in runs.items()
    }
    return {
        "variants": {name: DESCRIPTIONS[name] for name in runs},
        "runs": runs,
        "throughput_rps": throughput,
        "ratio_to_off": {name: rps / throughput["off"] for name, rps in throughput.items()},
        "p50_ms": {name: statistics.median(r["p50_ms"] for r in rs) for name, rs in runs.items()},
        "p99_ms": {name: statistics.median(r["p99_ms"] for r in rs) for name, rs in runs.items()},
        "cpu_us_per_request": cpu,
        "breakdown_cpu_us": _breakdown(runs),
    }


# Each piece of the full profile's overhead: (variant with it, the same without it).
BREAKDOWN = {
    "upstream Flask instrumentation": ("full", "full_no_flask"),
    "upstream gRPC instrumentation": ("full", "full_no_grpc"),
    "traces exported, no span sampled (over default)": ("traced_unsampled", "default"),
    "span recording and export": ("full", "traced_unsampled"),
    "the project's metrics (contract + runtime)": ("lean_no_access_log", "off"),
    "the project's access lines": ("lean", "lean_no_access_log"),
    "full profile, all of it": ("full", "off"),
}


def _breakdown(runs: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """CPU µs per request each piece costs each service: medians of per-round differences."""
    pieces: dict[str, dict[str, float]] = {}
    for piece, (with_it, without_it) in BREAKDOWN.items():
        pairs = list(zip(runs[with_it], runs[without_it], strict=True))
        pieces[piece] = {
            service: statistics.median(
                a["cpu_us_per_request"][service] - b["cpu_us_per_request"][service]
                for a, b in pairs
            )
            for service in (GATEWAY, ORDER_API, RECEIVER)
        }
    return pieces


def _scrape_figures(idle: list[tuple[float, int]], under_load: list[float]) -> dict[str, float]:
    return {
        "gateway_scrape_idle_ms": statistics.median(ms for ms, _ in idle),
        "gateway_scrape_under_load_ms": statistics.median(under_load) if under_load else 0.0,
        "gateway_scrape_bytes": idle[-1][1],
    }


def _with_scrapes(
    stack: Stack, load: Callable[[], dict[str, Any]], samples: list[float]
) -> dict[str, Any]:
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
        sent += int(wrk(url, 10).get("requests", 0)) or 1
    return {"requests": sent, "after_warmup_mb": after_warmup, "after_requests_mb": _rss_mb(stack)}
