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

import os
import threading
import time
from pathlib import Path

from otel.settings import ConfigError
from otel_stack.cli import alert_status, liveview, prometheus_reading, reports
from otel_stack.cli.console import Console
from otel_stack.cli.up_plan import (
    LOAD_CONCURRENCY,
    LOCAL_TRACES_ENDPOINT,
    UpOptions,
    dns_spec,
    service_specs,
    with_replica_dns,
)
from otel_stack.deploy import prometheus_config
from otel_stack.harness import (
    local_alertmanager,
    local_collector,
    local_prometheus,
    processes,
    running,
    stack_tls,
)
from otel_stack.harness.alert_sink import AlertSink, format_notification
from otel_stack.harness.histograms import Bucket, combine_cumulative
from otel_stack.harness.load import MAX_DURATION_SECONDS, LoadConfig, LoadGenerator
from otel_stack.harness.local_collector import CollectorBuildError
from otel_stack.harness.processes import Service, ServiceSpec, StartupCancelledError, StartupError
from otel_stack.harness.stack_tls import StackTls

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
    """One `up` run: the children started so far, the traffic generator, the live view."""

    def __init__(self, options: UpOptions, console: Console, stop: threading.Event) -> None:
        self.options = options
        self.console = console
        self.stop = stop
        self.data_dir = options.data_dir.resolve()
        self.services: list[Service] = []
        # The order-apis and web-gateways among `services`.
        self.app_services: list[Service] = []
        self.generators: list[LoadGenerator] = []
        self.prometheus_url: str | None = None
        self.alertmanager_url: str | None = None
        self.sink: AlertSink | None = None
        self.tls: StackTls | None = None

    def start_services(self) -> None:
        """Start the order-api, then the web-gateway, each once the previous one is ready.

        Several replicas: first the dnsmasq answering the order-apis' name, where it can run.
        """
        self._make_certificates()
        self.options, fallback = with_replica_dns(self.options)
        if fallback:
            self.console.line(fallback)
        specs = service_specs(self.options, self.data_dir, self.tls)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        dns = dns_spec(self.options, self.data_dir)
        if dns is not None and self.options.replica_dns is not None:
            self._start(dns)
            target = self.options.replica_dns.target(self.options.grpc_port)
            addresses = ", ".join(ports.grpc_target for ports in self.options.replica_ports)
            self.console.line(f"order-apis behind {target} ({addresses})")
        for spec in specs:
            self.app_services.append(self._start(spec))

    def start_alerting(self) -> None:
        """Start the alert sink and Alertmanager (if Prometheus runs and Alertmanager is found)."""
        wanted = self.options.prometheus and self.options.alertmanager
        if not wanted or local_prometheus.find_binary() is None:
            return  # without Prometheus nothing would send it alerts
        binary = local_alertmanager.find_binary()
        if binary is None:
            self.console.line(local_alertmanager.INSTALL_HINT)
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        sink_log = self.data_dir / "alert-sink.log"
        self.sink = AlertSink(
            port=self.options.alert_sink_port,
            on_notification=lambda item: _append_lines(sink_log, format_notification(item)),
        ).start()
        sink_urls = {name: self.sink.url(name) for name in local_alertmanager.RECEIVERS}
        urls = local_alertmanager.webhook_urls(sink_urls)
        config_path = local_alertmanager.write_config(
            self.data_dir, local_alertmanager.render(urls)
        )
        port = self.options.alertmanager_port
        self._start(
            local_alertmanager.spec(binary, self.data_dir, port=port, config_path=config_path)
        )
        self.alertmanager_url = self.options.alertmanager_url
        receivers = ", ".join(f"{name} -> {url}" for name, url in urls.items())
        self.console.line(f"alertmanager at {self.alertmanager_url} ({receivers})")

    def start_collector(self) -> None:
        """With --otlp: build the collector if needed (one line while it builds), start it."""
        if not self.options.otlp:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if local_collector.built_binary() is None:
            self.console.line(
                "building the OpenTelemetry Collector (make collector; the first build "
                "takes minutes) ..."
            )
        binary = local_collector.build()
        traces = os.environ.get("OTELCOL_TRACES_ENDPOINT", LOCAL_TRACES_ENDPOINT)
        self._make_certificates()
        tls_environ = self.tls.collector_environ() if self.tls else {}
        self._start(
            local_collector.spec(
                binary,
                self.data_dir,
                self.options.collector_ports,
                traces_endpoint=traces,
                environ={**os.environ, **tls_environ},
            )
        )
        self.console.line(f"collector forwards traces to {traces} (OTELCOL_TRACES_ENDPOINT)")

    def start_prometheus(self) -> None:
        """Start Prometheus if asked to and installed (else say how to get it)."""
        if not self.options.prometheus:
            return
        binary = local_prometheus.find_binary()
        if binary is None:
            if self.options.otlp_prometheus:  # nowhere to push to
                raise StartupError(local_prometheus.NAME, local_prometheus.INSTALL_HINT)
            self.console.line(local_prometheus.INSTALL_HINT)
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        receiver = self.options.otlp_prometheus
        tls_configs = {}
        if self.tls is not None and not self.options.otlp:
            files = self.tls.prometheus
            tls_configs[prometheus_config.ORDER_API_JOB] = prometheus_config.tls_config(
                files.ca, files.cert, files.key
            )
        config_path = local_prometheus.write_config(
            self.data_dir,
            self.options.scrape_targets(),
            alertmanager_port=self.options.alertmanager_port if self.alertmanager_url else None,
            tls_configs=tls_configs,
            otlp_receiver=receiver,
        )
        port = self.options.prometheus_port
        self._start(
            local_prometheus.spec(
                binary, self.data_dir, port=port, config_path=config_path, otlp_receiver=receiver
            )
        )
        self.prometheus_url = self.options.prometheus_url
        self.console.line(f"prometheus at {self.prometheus_url} (config {config_path})")

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
            context=self.tls.client_context() if self.tls else None,
        )

    def _make_certificates(self) -> None:
        """With --tls, once: a throwaway CA and every component's certificate (owner-only)."""
        if self.options.tls and self.tls is None:
            self.tls = stack_tls.create(self.data_dir / "tls")
            self.console.line(f"tls: throwaway CA and certificates in {self.tls.directory}")

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
            exited = next((s for s in self.services if s.exit_code() is not None), None)
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
        processes.stop_all(self.app_services, grace=self.options.grace)
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
        """Stop traffic, every child still running (last started first) and the alert sink."""
        self.stop_traffic()
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        codes = processes.stop_all(self.services, grace=self.options.grace)
        if codes:
            stopped = ", ".join(f"{name} exit {code}" for name, code in codes.items())
            self.console.line(f"stopped: {stopped}")

    def _start(self, spec: ServiceSpec) -> Service:
        self.console.line(f"starting {spec.name}: waiting for {spec.ready_description} ...")
        began = time.monotonic()
        timeout = self.options.startup_timeout + running.STARTUP_SECONDS_PER_WORKER * (
            self.options.processes - 1
        )
        service = processes.start(spec, timeout=timeout, cancelled=self.stop.is_set)
        self.services.append(service)
        self.console.line(
            f"{spec.name} ready in {time.monotonic() - began:.1f}s "
            f"(pid {service.pid}, log {spec.log_path})"
        )
        return service

    def _urls(self) -> dict[str, str]:
        if self.options.otlp_prometheus:
            return {
                "prometheus (both services push to it)": self.prometheus_url or "not running",
                "alertmanager": self.alertmanager_url or "not running",
            }
        if self.options.otlp:
            return {
                "collector (both services)": self.options.collector_metrics_url,
                "prometheus": self.prometheus_url or "not running",
            }
        gateways = self.options.metrics_urls(prometheus_config.GATEWAY_JOB)
        order_apis = self.options.metrics_urls(prometheus_config.ORDER_API_JOB)
        return {
            "web-gateway metrics": " ".join(gateways),
            "order-api metrics": " ".join(order_apis),
            "prometheus": self.prometheus_url or "not running",
            "alertmanager": self.alertmanager_url or "not running",
        }

    def _alert_lines(self) -> list[str]:
        if self.prometheus_url is None:
            return []
        try:
            alerts: list[alert_status.ActiveAlert] | None = alert_status.read_alerts(
                self.prometheus_url
            )
        except alert_status.AlertsUnavailableError:
            alerts = None
        notifications = self.sink.notifications() if self.sink is not None else []
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


def _append_lines(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.writelines(f"{line}\n" for line in lines)
