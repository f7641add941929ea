"""The `otel-stack` argument parser: every subcommand's options and the checks on their values.

`SUBCOMMANDS` is the table of subcommands: each one's options and the function
of `otel_stack.cli.commands` that runs it. Unusable values are argparse errors
(exit 2, one line on stderr).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from otel_stack import default_ports
from otel_stack.cli import commands
from otel_stack.cli.arg_types import (
    address,
    concurrency,
    port,
    processes,
    rate,
    refresh,
    release_name,
    replicas,
    requests,
    seconds,
)
from otel_stack.cli.console import Console
from otel_stack.cli.up_plan import MAX_REPLICAS
from otel_stack.deploy import go_tools, kubernetes
from services.workers import MAX_PROCESSES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="otel-stack", description="Run, load, watch and verify the two services locally."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    subcommands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for subcommand in SUBCOMMANDS:  # in this order in --help
        sub = subcommands.add_parser(subcommand.name, help=subcommand.help)
        subcommand.add_arguments(sub)
        sub.set_defaults(command=subcommand.run)
    return parser


def _up_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--gateway-port", type=port, default=default_ports.GATEWAY)
    sub.add_argument("--grpc-port", type=port, default=default_ports.GRPC)
    sub.add_argument(
        "--metrics-port", type=port, default=default_ports.METRICS, help="order-api /metrics port"
    )
    sub.add_argument("--prometheus-port", type=port, default=default_ports.PROMETHEUS)
    sub.add_argument("--alertmanager-port", type=port, default=default_ports.ALERTMANAGER)
    sub.add_argument(
        "--alert-sink-port",
        type=port,
        default=default_ports.ALERT_SINK,
        help="the local webhook sink",
    )
    sub.add_argument("--data-dir", type=Path, default=Path("var/stack"), help="logs, DB, TSDB")
    sub.add_argument("--duration", type=seconds, help="stop after this many seconds")
    sub.add_argument("--rate", type=rate, default=20.0, help="generated requests per second")
    sub.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="SPEC",
        help="order-api fault, e.g. latency:GetOrder=300ms or error:CreateOrder=0.05 (repeatable)",
    )
    sub.add_argument("--no-traffic", action="store_true", help="do not generate traffic")
    sub.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    sub.add_argument(
        "--no-alertmanager", action="store_true", help="do not start Alertmanager and the sink"
    )
    sub.add_argument(
        "--otlp",
        action="store_true",
        help="push metrics and traces over OTLP to a local OpenTelemetry Collector "
        "(built on first use; needs Go), which Prometheus and the live view read",
    )
    sub.add_argument(
        "--tls",
        action="store_true",
        help="every hop over TLS (mTLS between the services, to the collector and for the "
        "order-api's metrics), with a throwaway CA made under the data dir",
    )
    sub.add_argument(
        "--otlp-prometheus",
        action="store_true",
        help="push metrics over OTLP straight into Prometheus' OTLP receiver, semantic-"
        "convention durations as native histograms; the live view reads Prometheus",
    )
    sub.add_argument("--refresh", type=refresh, default=2.0, help="live view interval (s)")
    sub.add_argument(
        "--replicas",
        type=replicas,
        default=1,
        help=f"instances of each service, on consecutive ports (1-{MAX_REPLICAS}; >1 needs --db)",
    )
    sub.add_argument(
        "--processes",
        type=processes,
        default=1,
        help="worker processes of each service instance, sharing its ports "
        f"(GATEWAY_PROCESSES, ORDER_API_PROCESSES; 1-{MAX_PROCESSES})",
    )
    sub.add_argument(
        "--db",
        metavar="URL",
        help="ORDER_API_DB of every order-api: postgresql://… (default: a SQLite file)",
    )


def _load_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--target", default=default_ports.GATEWAY_URL, help="web-gateway base URL")
    sub.add_argument("--rate", type=rate, default=50.0, help="requests/s (0: as fast as possible)")
    sub.add_argument("--duration", type=seconds, default=10.0, help="seconds")
    sub.add_argument("--requests", type=requests, help="stop after this many requests")
    sub.add_argument("--concurrency", type=concurrency, default=4, help="worker connections")
    sub.add_argument("--seed", type=int, help="seed of the request mix")
    sub.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not loopback"
    )


def _verify_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--gateway", default=default_ports.GATEWAY_URL, help="web-gateway base URL")
    sub.add_argument("--order-api-metrics", default=default_ports.ORDER_API_METRICS_URL)
    sub.add_argument(
        "--no-probe",
        action="store_true",
        help="do not send one GET of an unknown order first (request metrics appear on use)",
    )
    sub.add_argument(
        "--disabled-instrumentations",
        default="",
        metavar="NAMES",
        help="the deployment's OTEL_PYTHON_DISABLED_INSTRUMENTATIONS (e.g. flask): "
        "their series are not expected",
    )


def _render_arguments(sub: argparse.ArgumentParser) -> None:
    where = sub.add_mutually_exclusive_group(required=True)
    where.add_argument("--compose", action="store_true", help="targets of the compose file")
    where.add_argument("--local", action="store_true", help="targets on 127.0.0.1")
    sub.add_argument("--gateway-port", type=port, default=default_ports.GATEWAY)
    sub.add_argument("--metrics-port", type=port, default=default_ports.METRICS)
    sub.add_argument("--alertmanager-port", type=port, help="with --local: send alerts there")


def _alert_sink_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--listen",
        type=address,
        default=("127.0.0.1", default_ports.ALERT_SINK),
        help="HOST:PORT to listen on",
    )


def _build_tools_arguments(sub: argparse.ArgumentParser) -> None:
    # A `type` instead of `choices`: Python 3.11's argparse rejects an empty list
    # against choices, so `build-tools` with no name (all of them) would fail.
    sub.add_argument(
        "names",
        nargs="*",
        type=release_name,
        metavar="NAME",
        help=(
            f"which ({', '.join(sorted(go_tools.RELEASES))}; "
            f"default: {' and '.join(go_tools.DEFAULT_RELEASES)})"
        ),
    )


def _render_kubernetes_arguments(sub: argparse.ArgumentParser) -> None:
    what = sub.add_mutually_exclusive_group(required=True)
    what.add_argument("--overlay", choices=kubernetes.OVERLAYS, help="the overlay to render")
    what.add_argument(
        "--write-generated",
        action="store_true",
        help=f"rewrite {kubernetes.GENERATED}/ from the project's files (make kubernetes)",
    )


@dataclass(frozen=True)
class Subcommand:
    """One `otel-stack` subcommand: its name, its line in --help, its options, what runs it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Console], int]


SUBCOMMANDS = (
    Subcommand(
        "up",
        "run both services (and Prometheus) with traffic and a live metrics view",
        _up_arguments,
        commands.run_up,
    ),
    Subcommand(
        "load",
        "send a realistic request mix to the web-gateway",
        _load_arguments,
        commands.run_load,
    ),
    Subcommand(
        "verify",
        "check both /metrics endpoints against the contract",
        _verify_arguments,
        commands.run_verify,
    ),
    Subcommand(
        "render-prometheus-config",
        "print a prometheus.yml",
        _render_arguments,
        commands.run_render,
    ),
    Subcommand(
        "alert-sink",
        "receive Alertmanager webhooks on /page and /ticket and print them",
        _alert_sink_arguments,
        commands.run_alert_sink,
    ),
    Subcommand(
        "build-tools",
        "build the tested Go releases (Prometheus, …) into the tool cache",
        _build_tools_arguments,
        commands.run_build_tools,
    ),
    Subcommand(
        "render-kubernetes",
        "print the Kubernetes manifests of an overlay (for kubectl apply -f -)",
        _render_kubernetes_arguments,
        commands.run_render_kubernetes,
    ),
)
