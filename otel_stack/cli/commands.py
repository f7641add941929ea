"""What each `otel-stack` subcommand does with its parsed arguments; each returns the exit code.

0 on success, 1 when something failed at run time (a service did not start, a
contract check failed); `UsageError` (exit 2) for values that only turn out
unusable when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from otel import settings
from otel_stack.cli import reports, up, up_plan, verify
from otel_stack.cli.console import Console
from otel_stack.deploy import go_tools, kubernetes, kustomize, prometheus_config
from otel_stack.harness import local_collector
from otel_stack.harness.alert_sink import AlertSink, format_notification
from otel_stack.harness.load import (
    LoadConfig,
    LoadGenerator,
)
from services.order_api.faults import FaultPlan, FaultSpecError
from services.startup import wait_for_stop

PROGRESS_SECONDS_TTY = 0.5
PROGRESS_SECONDS_PLAIN = 5.0


class UsageError(Exception):
    """An argument value that cannot be used; the message says which and why."""


def run_up(args: argparse.Namespace, console: Console) -> int:
    try:
        FaultPlan.parse(args.inject)
    except FaultSpecError as error:
        raise UsageError(f"--inject: {error}") from None
    try:
        up_plan.check_replicas(args.replicas, args.db)
    except up_plan.ReplicasError as error:
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
    options = up_plan.UpOptions(
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
        tls=args.tls,
        otlp_prometheus=args.otlp_prometheus,
        refresh=args.refresh,
        replicas=args.replicas,
        processes=args.processes,
        db=args.db,
    )
    with _stop_on_signals() as stop:
        return up.run(options, console, stop)


def run_load(args: argparse.Namespace, console: Console) -> int:
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


def run_verify(args: argparse.Namespace, console: Console) -> int:
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


def run_render(args: argparse.Namespace, console: Console) -> int:
    if args.compose:
        console.out.write(prometheus_config.render_compose())
        return 0
    targets = prometheus_config.local_targets(args.gateway_port, args.metrics_port)
    alertmanagers = [f"127.0.0.1:{args.alertmanager_port}"] if args.alertmanager_port else []
    console.out.write(prometheus_config.render(targets, alertmanagers=alertmanagers))
    return 0


def run_alert_sink(args: argparse.Namespace, console: Console) -> int:
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
        wait_for_stop(stop)
    sink.close()
    return 0


def run_build_tools(args: argparse.Namespace, console: Console) -> int:
    for name in args.names or go_tools.DEFAULT_RELEASES:
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


def run_render_kubernetes(args: argparse.Namespace, console: Console) -> int:
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
