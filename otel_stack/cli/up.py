"""`otel-stack up`: run both services (and Prometheus) locally, drive traffic, watch live metrics.

Start order: order-api (ready when gRPC health says SERVING), web-gateway
(ready when /readyz answers 200), then the alert sink (in this process) and
Alertmanager, then Prometheus, each if it is installed. With `--replicas N`, N
order-apis and N gateways run on consecutive ports, each with its own
`service.instance.id`; the gateways balance over every order-api: one DNS
name answered by a local dnsmasq with every replica's loopback address
(127.0.0.1, 127.0.0.2, … on the one gRPC port), or an `ipv4:` list where
dnsmasq or those addresses are missing (said in one line); the traffic is
split over the gateways, Prometheus discovers every instance through file_sd
files written here, and the live view sums over instances. Replicas share one
database, so N > 1 needs `--db postgresql://…` (a SQLite file is refused: it
is one process's database). With
`otlp`, the OpenTelemetry Collector (built first if it is not in the tool
cache) starts before the services, which push metrics and traces to it over
OTLP; Prometheus and the live view then read the collector's `prometheus`
exporter instead of the services' own /metrics. With `otlp_prometheus`, Prometheus
(with its OTLP receiver) starts before the services, which push metrics to it
(`otlp_prometheus`); the live view then reads Prometheus (`prometheus_reading`).
On both push paths the summary is read after the services have stopped, so it
holds their last export. Every
child is stopped in a `finally`, whatever happens; a child that does not come
up, or exits while the stack runs, ends the command with exit code 1 and the
end of its log.
"""

from __future__ import annotations

import threading
import time

from otel.settings import ConfigError
from otel_stack.cli import alert_status, liveview, prometheus_reading, reports
from otel_stack.cli.console import Console
from otel_stack.cli.up_children import StackChildren
from otel_stack.cli.up_plan import LOAD_CONCURRENCY, UpOptions
from otel_stack.deploy import prometheus_config
from otel_stack.harness import processes
from otel_stack.harness.histograms import Bucket, combine_cumulative
from otel_stack.harness.load import MAX_DURATION_SECONDS, LoadConfig, LoadGenerator
from otel_stack.harness.local_collector import CollectorBuildError
from otel_stack.harness.processes import StartupCancelledError, StartupError

EXIT_USAGE = 2
# How long the summary of a push path waits for the services' last export to show.
FINAL_READ_SECONDS = 10.0
EXIT_INTERRUPTED = 130


def run(options: UpOptions, console: Console, stop: threading.Event) -> int:
    """Run the stack until `stop` is set or the duration ends; return the exit code."""
    stack = _StackRun(options, console, stop)
    try:
        stack.start_collector()
        if options.otlp_prometheus:  # the services push to it from their start
            stack.start_alerting()
            stack.start_prometheus()
            stack.start_services()
        else:
            stack.start_services()
            stack.start_alerting()
            stack.start_prometheus()
        baseline = stack.read()
        stack.start_traffic()
        code, final, reason = stack.watch(baseline)
        stack.stop_traffic()
        if options.pushes:
            final = stack.read_after_last_export()
        stack.print_summary(baseline, final or stack.read(), reason)
        return code
    except StartupError as error:
        console.error(f"otel-stack: {error}")
        _print_log_tail(console, error.service, error.log_tail)
        return 1
    except ConfigError as error:  # raised before any child starts
        console.error(f"otel-stack up: error: {error}")
        return EXIT_USAGE
    except StartupCancelledError as error:
        console.error(f"otel-stack: {error}")
        return EXIT_INTERRUPTED
    except CollectorBuildError as error:
        console.error(f"otel-stack: cannot build the collector: {error}")
        return 1
    except OSError as error:  # the data directory or a file in it
        console.error(f"otel-stack: {error}")
        return 1
    finally:
        stack.close()


class _StackRun:
    """One `up` run: its children, the traffic generators, the live view and the summary."""

    def __init__(self, options: UpOptions, console: Console, stop: threading.Event) -> None:
        self.children = StackChildren(options, console, stop)
        self.console = console
        self.stop = stop
        self.generators: list[LoadGenerator] = []
        self.start_collector = self.children.start_collector
        self.start_services = self.children.start_services
        self.start_alerting = self.children.start_alerting
        self.start_prometheus = self.children.start_prometheus

    @property
    def options(self) -> UpOptions:
        """The run's options (the children's: starting replicas may settle their DNS name)."""
        return self.children.options

    def start_traffic(self) -> None:
        """Start one load generator per gateway, splitting the rate, bounded by the duration."""
        if not self.options.traffic:
            return
        for target in self.options.gateway_urls:
            config = LoadConfig(
                target=target,
                rate=self.options.rate / self.options.replicas,
                duration=self.options.duration or MAX_DURATION_SECONDS,
                concurrency=LOAD_CONCURRENCY,
            )
            generator = LoadGenerator(config)
            generator.start()
            self.generators.append(generator)
        targets = ", ".join(self.options.gateway_urls)
        self.console.line(f"traffic: {self.options.rate:g} req/s against {targets}")

    def read(self) -> liveview.Reading:
        """Scrape every instance of both services now.

        With --otlp, the collector's exposition, in the text format: its OpenMetrics
        does not pass prometheus_client's strict parser.
        """
        if self.options.otlp_prometheus:
            return prometheus_reading.read(self.options.prometheus_url, self._client_latency)
        if self.options.otlp:
            return liveview.read(*self.options.live_urls, self._client_latency, openmetrics=False)
        return liveview.read(
            self.options.metrics_urls(prometheus_config.GATEWAY_JOB),
            self.options.metrics_urls(prometheus_config.ORDER_API_JOB),
            self._client_latency,
            context=self.children.tls.client_context() if self.children.tls else None,
        )

    def _client_latency(self) -> dict[str, list[Bucket]]:
        """What the load generators timed so far, per route, all gateways together."""
        return combine_cumulative(generator.latency_by_route() for generator in self.generators)

    def watch(self, baseline: liveview.Reading) -> tuple[int, liveview.Reading | None, str]:
        """Show the live view until stopped; return (exit code, last reading, why it ended)."""
        options = self.options
        self.console.line(f"live view every {options.refresh:g}s; Ctrl-C stops the stack")
        started = time.monotonic()
        deadline = None if options.duration is None else started + options.duration
        previous = baseline
        while True:
            timeout = options.refresh
            if deadline is not None:
                timeout = max(0.0, min(timeout, deadline - time.monotonic()))
            if self.stop.wait(timeout):
                return 0, None, "interrupted"
            exited = next((s for s in self.children.services if s.exit_code() is not None), None)
            if exited is not None:
                self.console.error(
                    f"otel-stack: {exited.name} exited unexpectedly with code {exited.exit_code()}"
                )
                _print_log_tail(self.console, exited.name, exited.log_tail())
                return 1, None, f"{exited.name} exited"
            current = self.read()
            window = liveview.compare(previous, current)
            title = (
                f"otel-stack up | {time.strftime('%H:%M:%S')} | last {window.seconds:.1f}s"
                f" | running {time.monotonic() - started:.0f}s"
            )
            lines = liveview.render(window, title=title, urls=self._urls())
            self.console.block([*lines, *self._alert_lines()])
            previous = current
            if deadline is not None and time.monotonic() >= deadline:
                return 0, current, f"duration of {options.duration:g}s reached"

    def read_after_last_export(self) -> liveview.Reading:
        """Stop the services (each pushes its last metrics as it exits), then read what arrived.

        Reads until two readings a second apart agree (the collector batches what it
        forwards), within FINAL_READ_SECONDS.
        """
        processes.stop_all(self.children.app_services, grace=self.options.grace)
        deadline = time.monotonic() + FINAL_READ_SECONDS
        reading = self.read()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            again = self.read()
            if _same_counts(reading, again):
                return again
            reading = again
        return reading

    def stop_traffic(self) -> None:
        """Stop the load generators and wait for their in-flight requests."""
        for generator in self.generators:
            generator.stop()
        for generator in self.generators:
            generator.wait(timeout=self.options.grace)

    def print_summary(
        self, baseline: liveview.Reading, final: liveview.Reading, reason: str
    ) -> None:
        """Totals since the stack was ready, and what the traffic generator saw."""
        window = liveview.compare(baseline, final)
        title = f"summary: {window.seconds:.1f}s since the stack was ready ({reason})"
        lines = liveview.render(window, title=title, urls=self._urls())
        for target, generator in zip(self.options.gateway_urls, self.generators, strict=False):
            heading = "traffic generator:" if len(self.generators) == 1 else f"traffic to {target}:"
            lines += ["", heading, *reports.summary_lines(generator.summary())]
        self.console.lines(["", *lines])

    def close(self) -> None:
        """Stop traffic, then every child still running and the alert sink."""
        self.stop_traffic()
        self.children.close()

    def _urls(self) -> dict[str, str]:
        if self.options.otlp_prometheus:
            return {
                "prometheus (both services push to it)": self.children.prometheus_url
                or "not running",
                "alertmanager": self.children.alertmanager_url or "not running",
            }
        if self.options.otlp:
            return {
                "collector (both services)": self.options.collector_metrics_url,
                "prometheus": self.children.prometheus_url or "not running",
            }
        gateways = self.options.metrics_urls(prometheus_config.GATEWAY_JOB)
        order_apis = self.options.metrics_urls(prometheus_config.ORDER_API_JOB)
        return {
            "web-gateway metrics": " ".join(gateways),
            "order-api metrics": " ".join(order_apis),
            "prometheus": self.children.prometheus_url or "not running",
            "alertmanager": self.children.alertmanager_url or "not running",
        }

    def _alert_lines(self) -> list[str]:
        if self.children.prometheus_url is None:
            return []
        try:
            alerts: list[alert_status.ActiveAlert] | None = alert_status.read_alerts(
                self.children.prometheus_url
            )
        except alert_status.AlertsUnavailableError:
            alerts = None
        notifications = self.children.sink.notifications() if self.children.sink is not None else []
        return ["", *alert_status.render(alerts, notifications)]


def _same_counts(first: liveview.Reading, second: liveview.Reading) -> bool:
    """Whether two readings show the same request and order counts (and both succeeded)."""
    if first.errors or second.errors:
        return False
    window = liveview.compare(first, second)
    return not any(row.requests for row in [*window.routes, *window.rpcs]) and not (
        window.orders_created
    )


def _print_log_tail(console: Console, service: str, tail: list[str]) -> None:
    if not tail:
        return
    console.error(f"last lines of the {service} log:")
    for line in tail:
        console.error(f"  | {line}")
