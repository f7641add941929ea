"""The third metrics path for tests: both services pushing OTLP straight into a real Prometheus.

Prometheus is the tested release (skipped without it, failed with
REQUIRE_PROMETHEUS=1), started as `otel-stack up --otlp-prometheus` starts it:
`local_prometheus.write_config` and `spec` with the OTLP receiver, through the
stack's process harness, so a test can stop it and start it again on the same
port and TSDB. The services run under the launcher with the environment `up`
gives them (`otlp_prometheus.service_environ`), the test's own settings winning.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from otel_stack.deploy import prometheus_config
from otel_stack.harness import local_prometheus, otlp_prometheus, processes
from otel_stack.harness.processes import Service, ServiceSpec
from otel_stack.harness.running import Stack, free_port, running_stack
from tests.support.prometheus import Prometheus
from tests.support.tools import require_tool

START_TIMEOUT_SECONDS = 60.0


@dataclass
class ReceivingPrometheus:
    """A Prometheus with its OTLP receiver; `stop()` and `start()` it to simulate an outage."""

    spec: ServiceSpec
    url: str
    service: Service | None = field(default=None)

    def start(self) -> None:
        """Start it (same port, same TSDB) and wait until /-/ready answers 200."""
        self.service = processes.start(self.spec, timeout=START_TIMEOUT_SECONDS)

    def stop(self) -> int:
        """SIGTERM it; return its exit code."""
        assert self.service is not None
        code = self.service.stop(grace=15.0)
        self.service = None
        return code

    @property
    def api(self) -> Prometheus:
        """The query helpers of `tests.support.prometheus`."""
        assert self.service is not None
        return Prometheus(self.url, self.service.process, self.spec.log_path)


@dataclass(frozen=True)
class OtlpPrometheusPath:
    """Both services pushing metrics to `prometheus` over OTLP/HTTP."""

    stack: Stack
    prometheus: ReceivingPrometheus


@contextmanager
def running_receiving_prometheus(
    directory: Path, *, rule_files: Sequence[str] = (), scrape_interval: str = "1s"
) -> Iterator[ReceivingPrometheus]:
    """Start Prometheus with its OTLP receiver (scraping only itself) until the block ends."""
    binary = require_tool("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = local_prometheus.write_config(
        directory,
        prometheus_config.otlp_targets(f"127.0.0.1:{port}"),
        scrape_interval=scrape_interval,
        rules=list(rule_files),
        otlp_receiver=True,
    )
    spec = local_prometheus.spec(
        binary, directory, port=port, config_path=config_path, otlp_receiver=True
    )
    prometheus = ReceivingPrometheus(spec, f"http://127.0.0.1:{port}")
    prometheus.start()
    try:
        yield prometheus
    finally:
        if prometheus.service is not None:
            prometheus.stop()


@contextmanager
def running_otlp_prometheus_path(
    directory: Path,
    environ: Mapping[str, str],
    *,
    rule_files: Sequence[str] = (),
    scrape_interval: str = "1s",
) -> Iterator[OtlpPrometheusPath]:
    """Start Prometheus (OTLP receiver on), then both services pushing to it (launcher)."""
    with running_receiving_prometheus(
        directory, rule_files=rule_files, scrape_interval=scrape_interval
    ) as prometheus:
        pushing = {**otlp_prometheus.service_environ({}, prometheus.url), **environ}
        services = directory / "services"
        services.mkdir(exist_ok=True)
        with running_stack(services, launcher=True, environ=pushing) as stack:
            yield OtlpPrometheusPath(stack, prometheus)
