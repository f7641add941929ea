"""The `otel-stack` command (`python -m otel_stack`): up, load, verify, alerts, tools, renders.

Argument parsing and exit codes live here: 0 on success, 1 when something
failed at run time (a service did not start, a contract check failed), 2 for
unusable arguments (argparse's convention), each with a one-line message on
stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from otel import settings
from otel_stack import default_ports
from otel_stack.cli import reports, up, verify
from otel_stack.cli.console import Console
from otel_stack.cli.up import MAX_REPLICAS
from otel_stack.deploy import go_tools, kubernetes, kustomize, prometheus_config
from otel_stack.harness import local_collector
from otel_stack.harness.alert_sink import AlertSink, format_notification
from otel_stack.harness.load import (
    MAX_CONCURRENCY,
    MAX_DURATION_SECONDS,
    MAX_RATE,
    MAX_REQUESTS,
    LoadConfig,
    LoadConfigError,
    LoadGenerator,
)
from services.order_api.faults import FaultPlan, FaultSpecError

EXIT_USAGE = 2
PROGRESS_SECONDS_TTY = 0.5
PROGRESS_SECONDS_PLAIN = 5.0


class UsageError(Exception):
    """An argument value that cannot be used; the message says which and why."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one subcommand, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    console = Console()
    command: Callable[[argparse.Namespace, Console], int] = args.command
    try:
        return command(args, console)
    except (UsageError, LoadConfigError) as error:
        console.error(f"otel-stack {args.subcommand}: error: {error}")
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="otel-stack", description="Run, load, watch and verify the two services locally."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    _add_up(commands)
    _add_load(commands)
    _add_verify(commands)
    _add_render(commands)
    _add_alert_sink(commands)
    _add_build_tools(commands)
    _add_render_kubernetes(commands)
    return parser


def _add_up(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser(
        "up", help="run both services (and Prometheus) with traffic and a live metrics view"
    )
    sub.add_argument("--gateway-port", type=_port, default=default_ports.GATEWAY)
    sub.add_argument("--grpc-port", type=_port, default=default_ports.GRPC)
    sub.add_argument(
        "--metrics-port", type=_port, default=default_ports.METRICS, help="order-api /metrics port"
    )
    sub.add_argument("--prometheus-port", type=_port, default=default_ports.PROMETHEUS)
    sub.add_argument("--alertmanager-port", type=_port, default=default_ports.ALERTMANAGER)
    sub.add_argument(
        "--alert-sink-port",
        type=_port,
        default=default_ports.ALERT_SINK,
        help="the local webhook sink",
    )
    sub.add_argument("--data-dir", type=Path, default=Path("var/stack"), help="logs, DB, TSDB")
    sub.add_argument("--duration", type=_seconds, help="stop after this many seconds")
    sub.add_argument("--rate", type=_rate, default=20.0, help="generated requests per second")
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
        "--otlp-prometheus",
        action="store_true",
        help="push metrics over OTLP straight into Prometheus' OTLP receiver, semantic-"
        "convention durations as native histograms; the live view reads Prometheus",
    )
    sub.add_argument("--refresh", type=_refresh, default=2.0, help="live view interval (s)")
    sub.add_argument(
        "--replicas",
        type=_replicas,
        default=1,
        help=f"instances of each service, on consecutive ports (1-{MAX_REPLICAS}; >1 needs --db)",
    )
    sub.add_argument(
        "--db",
        metavar="URL",
        help="ORDER_API_DB of every order-api: postgresql://… (default: a SQLite file)",
    )
    sub.set_defaults(command=_run_up)


def _add_load(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("load", help="send a realistic request mix to the web-gateway")
    sub.add_argument("--target", default=default_ports.GATEWAY_URL, help="web-gateway base URL")
    sub.add_argument("--rate", type=_rate, default=50.0, help="requests/s (0: as fast as possible)")
    sub.add_argument("--duration", type=_seconds, default=10.0, help="seconds")
    sub.add_argument("--requests", type=_requests, help="stop after this many requests")
    sub.add_argument("--concurrency", type=_concurrency, default=4, help="worker connections")
    sub.add_argument("--seed", type=int, help="seed of the request mix")
    sub.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not loopback"
    )
    sub.set_defaults(command=_run_load)


def _add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("verify", help="check both /metrics endpoints against the contract")
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
    sub.set_defaults(command=_run_verify)


def _add_render(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser("render-prometheus-config", help="print a prometheus.yml")
    where = sub.add_mutually_exclusive_group(required=True)
    where.add_argument("--compose", action="store_true", help="targets of the compose file")
    where.add_argument("--local", action="store_true", help="targets on 127.0.0.1")
    sub.add_argument("--gateway-port", type=_port, default=default_ports.GATEWAY)
    sub.add_argument("--metrics-port", type=_port, default=default_ports.METRICS)
    sub.add_argument("--alertmanager-port", type=_port, help="with --local: send alerts there")
    sub.set_defaults(command=_run_render)


def _add_alert_sink(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser(
        "alert-sink", help="receive Alertmanager webhooks on /page and /ticket and print them"
    )
    sub.add_argument(
        "--listen",
        type=_address,
        default=("127.0.0.1", default_ports.ALERT_SINK),
        help="HOST:PORT to listen on",
    )
    sub.set_defaults(command=_run_alert_sink)


def _add_build_tools(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser(
        "build-tools", help="build the Prometheus/Alertmanager releases into the tool cache"
    )
    # A `type` instead of `choices`: Python 3.11's argparse rejects an empty list
    # against choices, so `build-tools` with no name (all of them) would fail.
    sub.add_argument(
        "names",
        nargs="*",
        type=_release_name,
        metavar="NAME",
        help=f"which ({', '.join(sorted(go_tools.RELEASES))}; default: all)",
    )
    sub.set_defaults(command=_run_build_tools)


def _add_render_kubernetes(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser(
        "render-kubernetes",
        help="print the Kubernetes manifests of an overlay (for kubectl apply -f -)",
    )
    what = sub.add_mutually_exclusive_group(required=True)
    what.add_argument("--overlay", choices=kubernetes.OVERLAYS, help="the overlay to render")
    what.add_argument(
        "--write-generated",
        action="store_true",
        help=f"rewrite {kubernetes.GENERATED}/ from the project's files (make kubernetes)",
    )
    sub.set_defaults(command=_run_render_kubernetes)


def _run_up(args: argparse.Namespace, console: Console) -> int:
    try:
        FaultPlan.parse(args.inject)
    except FaultSpecError as error:
        raise UsageError(f"--inject: {error}") from None
    try:
        up.check_replicas(args.replicas, args.db)
    except up.ReplicasError as error:
        raise UsageError(str(error)) from None
    ports = [
        base + index
        for base in (args.gateway_port, args.grpc_port, args.metrics_port)
        for index in range(args.replicas)
    ]
    if not args.no_prometheus:
        ports.append(args.prometheus_port)
        if not args.no_alertmanager:
            ports += [args.alertmanager_port, args.alert_sink_port]
    if args.otlp and args.otlp_prometheus:
        raise UsageError("--otlp and --otlp-prometheus are two ways to push metrics: pick one")
    if args.otlp_prometheus and args.no_prometheus:
        raise UsageError("--otlp-prometheus pushes metrics to Prometheus: drop --no-prometheus")
    if args.otlp:
        ports.extend(dataclasses.astuple(local_collector.ports_from_environ()))
    if len(set(ports)) != len(ports) or max(ports) > 65535:
        raise UsageError(
            "the gateway, gRPC, metrics, Prometheus, Alertmanager, alert sink (and with --otlp "
            "the collector's) ports must differ (each replica takes the next port after its "
            "service's base port)"
        )
    options = up.UpOptions(
        gateway_port=args.gateway_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        prometheus_port=args.prometheus_port,
        alertmanager_port=args.alertmanager_port,
        alert_sink_port=args.alert_sink_port,
        data_dir=args.data_dir,
        duration=args.duration,
        rate=args.rate,
        inject=tuple(args.inject),
        traffic=not args.no_traffic,
        prometheus=not args.no_prometheus,
        alertmanager=not args.no_alertmanager,
        otlp=args.otlp,
        otlp_prometheus=args.otlp_prometheus,
        refresh=args.refresh,
        replicas=args.replicas,
        db=args.db,
    )
    with _stop_on_signals() as stop:
        return up.run(options, console, stop)


def _run_load(args: argparse.Namespace, console: Console) -> int:
    config = LoadConfig(
        target=args.target,
        rate=args.rate,
        duration=args.duration,
        max_requests=args.requests,
        concurrency=args.concurrency,
        seed=args.seed,
        allow_remote=args.allow_remote,
    )
    generator = LoadGenerator(config)
    every = PROGRESS_SECONDS_TTY if console.interactive else PROGRESS_SECONDS_PLAIN
    with _stop_on_signals() as stop:
        generator.start()
        next_progress = time.monotonic() + every
        while not generator.wait(timeout=0.1):
            if stop.is_set():
                generator.stop()
            if time.monotonic() >= next_progress:
                console.progress(reports.progress_line(generator.summary(), duration=args.duration))
                next_progress += every
    summary = generator.summary()
    console.progress(reports.progress_line(summary, duration=args.duration))
    console.lines(reports.summary_lines(summary))
    if not summary.responses:
        console.error(f"otel-stack load: error: no responses from {args.target}")
        return 1
    return 0


def _run_verify(args: argparse.Namespace, console: Console) -> int:
    if not args.no_probe:
        console.line(f"probe: {verify.probe_gateway(args.gateway)}")
    disabled = settings.instrumentation_names(args.disabled_instrumentations)
    gateway, order_api = verify.GATEWAY.without(disabled), verify.ORDER_API.without(disabled)
    checks = verify.check_endpoint(gateway, args.gateway.rstrip("/") + "/metrics")
    checks += verify.check_endpoint(order_api, args.order_api_metrics)
    passed, failed = console.marks()
    for check in checks:
        detail = "" if check.ok or not check.detail else f" ({check.detail})"
        console.line(f"{passed if check.ok else failed} {check.service}: {check.item}{detail}")
    failures = sum(not check.ok for check in checks)
    console.line(f"{len(checks) - failures} passed, {failures} failed")
    return 1 if failures else 0


def _run_render(args: argparse.Namespace, console: Console) -> int:
    if args.compose:
        console.out.write(prometheus_config.render_compose())
        return 0
    targets = prometheus_config.local_targets(args.gateway_port, args.metrics_port)
    alertmanagers = [f"127.0.0.1:{args.alertmanager_port}"] if args.alertmanager_port else []
    console.out.write(prometheus_config.render(targets, alertmanagers=alertmanagers))
    return 0


def _run_alert_sink(args: argparse.Namespace, console: Console) -> int:
    host, port = args.listen
    try:
        sink = AlertSink(
            host, port, on_notification=lambda item: console.lines(format_notification(item))
        )
    except OSError as error:
        console.error(f"otel-stack alert-sink: cannot listen on {host}:{port}: {error}")
        return 1
    with _stop_on_signals() as stop:
        sink.start()
        console.line(f"alert sink on {host}:{port}: POST /page, /ticket; GET /notifications")
        stop.wait()
    sink.close()
    return 0


def _run_build_tools(args: argparse.Namespace, console: Console) -> int:
    for name in args.names or sorted(go_tools.RELEASES):
        release = go_tools.RELEASES[name]
        console.line(f"{name} {release.version} ({release.module}@{release.module_version}) ...")
        try:
            folder = go_tools.build(release)
        except go_tools.BuildError as error:
            console.error(f"otel-stack build-tools: {error}")
            return 1
        for command in release.commands:
            console.line(f"  {folder / command}")
    return 0


def _run_render_kubernetes(args: argparse.Namespace, console: Console) -> int:
    try:
        if args.write_generated:
            for path in kubernetes.write_generated():
                console.line(f"wrote {path}")
            return 0
        manifests = kubernetes.render(args.overlay)
    except (kubernetes.KubernetesRenderError, OSError) as error:
        console.error(f"otel-stack render-kubernetes: error: {error}")
        return 1
    console.out.write(kustomize.dump(manifests))
    return 0


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (handlers restored after)."""
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda _signum, _frame: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _number(text: str, low: float, high: float, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} between {low:g} and {high:g}, got {text!r}")
    return value


def _port(text: str) -> int:
    return int(_number(text, 1, 65535, "a port")) if text.isdigit() else _bad(text, "a port")


def _replicas(text: str) -> int:
    return int(_number(text, 1, MAX_REPLICAS, "replicas"))


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        _bad(text, "HOST:PORT")
    return host.strip("[]"), int(port)


def _release_name(text: str) -> str:
    return text if text in go_tools.RELEASES else _bad(text, " or ".join(sorted(go_tools.RELEASES)))


def _seconds(text: str) -> float:
    value = _number(text, 0, MAX_DURATION_SECONDS, "seconds")
    return value if value > 0 else _bad(text, "a positive number of seconds")


def _refresh(text: str) -> float:
    return _number(text, 0.1, 3600, "seconds")


def _rate(text: str) -> float:
    return _number(text, 0, MAX_RATE, "requests per second")


def _requests(text: str) -> int:
    if not text.isdigit():
        return _bad(text, "a whole number of requests")
    return int(_number(text, 1, MAX_REQUESTS, "requests"))


def _concurrency(text: str) -> int:
    if not text.isdigit():
        return _bad(text, "a whole number of workers")
    return int(_number(text, 1, MAX_CONCURRENCY, "workers"))


def _bad(text: str, what: str) -> NoReturn:
    raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")


if __name__ == "__main__":
    raise SystemExit(main())
