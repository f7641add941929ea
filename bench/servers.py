"""Suite 7: the gateway's HTTP server, waitress (today's) against cheroot (before), over sockets.

One order-api and three gateways in front of it, the same app and settings: the
gateway as it runs (`python -m services.web_gateway`: waitress, the thread idle
the shortest takes the next request), the same with waitress's own dispatcher
(`python -m bench.fifo_gateway`: the thread idle the longest), and cheroot
(`python -m bench.cheroot_gateway`), telemetry off so that the servers' own
cost is what differs. Closed-loop `wrk` on `GET /orders/<id>` takes turns between
them, with 16 and with 256 connections. Beside requests/s, each run records the
gateway process's CPU time per request, which a busy machine disturbs less.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench.end_to_end import wrk
from otel_stack.harness import processes, readiness
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.http_call import create_order
from otel_stack.harness.mix import EXAMPLE_ORDER
from otel_stack.harness.running import GATEWAY, free_port, running_stack

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("waitress", "waitress_fifo", "cheroot")
# The gateways besides the one running_stack starts: (name, module).
_OTHERS = (("waitress_fifo", "bench.fifo_gateway"), ("cheroot", "bench.cheroot_gateway"))
CONNECTIONS = (16, 256)
_OFF = {"OTEL_SDK_DISABLED": "true"}


def _gateway(directory: Path, order_api_target: str, name: str, module: str) -> processes.Service:
    """The gateway run as `python -m module`, in front of the same order-api."""
    port = free_port()
    environ = child_environ(
        {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "ORDER_API_TARGET": order_api_target, **_OFF}
    )
    url = f"http://127.0.0.1:{port}"
    spec = processes.ServiceSpec(
        name=f"web-gateway ({name})",
        command=[sys.executable, "-m", module],
        env=environ,
        log_path=directory / f"{name}-gateway.log",
        ready=lambda: readiness.http_ok(url + "/readyz"),
        ready_description=f"GET {url}/readyz answers 200",
        cwd=ROOT,
    )
    return processes.start(spec)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _measured(
    gateway: psutil.Process, url: str, seconds: int, connections: int
) -> dict[str, float]:
    """One wrk run, with the gateway's CPU time per request."""
    before = _cpu_seconds(gateway)
    figures = wrk(url, seconds, connections=connections)
    used = _cpu_seconds(gateway) - before
    figures["cpu_us_per_request"] = used / (figures["requests_per_second"] * seconds) * 1e6
    return figures


def run(quick: bool) -> dict[str, Any]:
    """Requests/s, latency and CPU of each server, interleaved round by round."""
    seconds, rounds = (4, 2) if quick else (8, 3)
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), environ=_OFF) as stack:
        others = {
            name: _gateway(Path(tmp), stack.order_api_target, name, module)
            for name, module in _OTHERS
        }
        try:
            path = f"/orders/{create_order(stack.gateway_url, EXAMPLE_ORDER)}"
            bases = {"waitress": stack.gateway_url} | {
                name: f"http://{service.spec.env['GATEWAY_LISTEN']}"
                for name, service in others.items()
            }
            gateways = {"waitress": psutil.Process(stack.processes[GATEWAY].pid)} | {
                name: psutil.Process(service.pid) for name, service in others.items()
            }
            runs: dict[str, dict[int, list[dict[str, float]]]] = {
                name: {c: [] for c in CONNECTIONS} for name in SERVERS
            }
            for round_number in range(rounds):
                shift = round_number % len(SERVERS)  # no server always runs first
                for connections in CONNECTIONS:
                    for name in SERVERS[shift:] + SERVERS[:shift]:
                        runs[name][connections].append(
                            _measured(gateways[name], bases[name] + path, seconds, connections)
                        )
        finally:
            processes.stop_all(list(others.values()))
    return {
        str(connections): {
            name: {
                "requests_per_second": statistics.median(
                    r["requests_per_second"] for r in runs[name][connections]
                ),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs[name][connections]),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs[name][connections]),
                "cpu_us_per_request": statistics.median(
                    r["cpu_us_per_request"] for r in runs[name][connections]
                ),
                "errors": sum(r.get("errors", 0) for r in runs[name][connections]),
            }
            for name in SERVERS
        }
        for connections in CONNECTIONS
    }
