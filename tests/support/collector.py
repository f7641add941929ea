"""The project's real OpenTelemetry Collector for tests: the built binary, and a running one.

The binary comes from `otel_stack.harness.local_collector` (built once into the tool cache
when Go is installed). Without Go and without a built binary a test skips,
saying how to get them; with REQUIRE_COLLECTOR=1 (as in CI) it fails instead, so
nothing skips silently there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from otel_stack.deploy import prometheus_config
from otel_stack.harness import local_collector, processes
from otel_stack.harness.local_collector import CollectorPorts
from otel_stack.harness.otlp_receiver import OtlpReceiver, running_receiver, serving_otlp_http
from otel_stack.harness.processes import Service, ServiceSpec
from otel_stack.harness.running import Stack, running_stack
from tests.support.prometheus import Prometheus, running_prometheus
from tests.support.tools import require_tool

START_TIMEOUT_SECONDS = 30.0


@dataclass
class RunningCollector:
    """A collector started by a test; `stop()` and `start()` it to simulate an outage."""

    spec: ServiceSpec
    ports: CollectorPorts
    service: Service | None = field(default=None)

    def start(self) -> None:
        """Start it and wait until its health check answers 200."""
        self.service = processes.start(self.spec, timeout=START_TIMEOUT_SECONDS)

    def stop(self) -> int:
        """SIGTERM it; return its exit code."""
        assert self.service is not None
        code = self.service.stop(grace=15.0)
        self.service = None
        return code

    def log(self) -> str:
        """Everything it logged so far."""
        return self.spec.log_path.read_text(errors="replace")


@contextmanager
def running_collector(
    directory: Path,
    *,
    traces_endpoint: str,
    logs_endpoint: str = local_collector.NO_LOGS_BACKEND,
    overrides: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> Iterator[RunningCollector]:
    """Run collector-config.yaml on free loopback ports until the block ends.

    `environ` adds variables (OTELCOL_METRICS_EXPORTER, its receivers' TLS, say) to this
    process's.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ports = CollectorPorts.free()
    spec = local_collector.spec(
        Path(require_tool("collector")),
        directory,
        ports,
        traces_endpoint=traces_endpoint,
        logs_endpoint=logs_endpoint,
        overrides=overrides,
        environ={**os.environ, **(environ or {})},
    )
    running = RunningCollector(spec, ports)
    running.start()
    try:
        yield running
    finally:
        if running.service is not None:
            running.stop()


@dataclass(frozen=True)
class CollectorPath:
    """Both services pushing OTLP to a collector that Prometheus scrapes; traces and logs go on
    to a sink (`traces`, which receives the logs too, over OTLP/HTTP as Loki would)."""

    stack: Stack
    collector: RunningCollector
    prometheus: Prometheus
    traces: OtlpReceiver


@contextmanager
def running_collector_path(
    directory: Path, environ: Mapping[str, str], *, rule_files: Sequence[str] = ()
) -> Iterator[CollectorPath]:
    """Start the sink, the collector, both services (launcher, `environ`) and Prometheus."""
    with (
        running_receiver() as (traces, traces_port),
        serving_otlp_http(traces) as logs_port,
        running_collector(
            directory / "collector",
            traces_endpoint=f"127.0.0.1:{traces_port}",
            logs_endpoint=f"http://127.0.0.1:{logs_port}",
        ) as running,
    ):
        pushing = {**environ, "OTEL_EXPORTER_OTLP_ENDPOINT": running.ports.otlp_endpoint}
        (directory / "services").mkdir()
        with running_stack(directory / "services", launcher=True, environ=pushing) as stack:
            config = prometheus_config.render(
                prometheus_config.collector_targets(
                    running.ports.prometheus_target, running.ports.telemetry_target
                ),
                scrape_interval="1s",
                rule_files=list(rule_files),
            )
            with running_prometheus(directory / "prometheus", config) as prometheus:
                yield CollectorPath(stack, running, prometheus, traces)
