"""Suite 7: the gateway's HTTP server, waitress (today's) against cheroot (before), over sockets.

One order-api and two gateways in front of it, the same app and settings, one
served by waitress (`python -m services.web_gateway`) and one by cheroot
(`python -m bench.cheroot_gateway`), telemetry off so that the servers' own
cost is what differs. Closed-loop `wrk` on `GET /orders/<id>` alternates between
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
SERVERS = ("waitress", "cheroot")
CONNECTIONS = (16, 256)
_OFF = {"OTEL_SDK_DISABLED": "true"}


def _cheroot_gateway(directory: Path, order_api_target: str) -> processes.Service:
    port = free_port()
    environ = child_environ(
        {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "ORDER_API_TARGET": order_api_target, **_OFF}
    )
    url = f"http://127.0.0.1:{port}"
    spec = processes.ServiceSpec(
        name="web-gateway (cheroot)",
        command=[sys.executable, "-m", "bench.cheroot_gateway"],
        env=environ,
        log_path=directory / "cheroot-gateway.log",
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
    """Requests/s and latency of both servers, interleaved round by round."""
    seconds, rounds = (4, 2) if quick else (8, 3)
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), environ=_OFF) as stack:
        cheroot = _cheroot_gateway(Path(tmp), stack.order_api_target)
        try:
            path = f"/orders/{create_order(stack.gateway_url, EXAMPLE_ORDER)}"
            cheroot_url = f"http://{cheroot.spec.env['GATEWAY_LISTEN']}"
            bases = {"waitress": stack.gateway_url, "cheroot": cheroot_url}
            gateways = {
                "waitress": psutil.Process(stack.processes[GATEWAY].pid),
                "cheroot": psutil.Process(cheroot.pid),
            }
            runs: dict[str, dict[int, list[dict[str, float]]]] = {
                name: {c: [] for c in CONNECTIONS} for name in SERVERS
            }
            for round_number in range(rounds):
                order = SERVERS if round_number % 2 == 0 else SERVERS[::-1]
                for connections in CONNECTIONS:
                    for name in order:
                        runs[name][connections].append(
                            _measured(gateways[name], bases[name] + path, seconds, connections)
                        )
        finally:
            processes.stop_all([cheroot])
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
