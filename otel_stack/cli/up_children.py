"""The child processes of one `otel-stack up` run, started in order and stopped in reverse.

The collector (with `--otlp`), the order-apis and web-gateways (with a local
dnsmasq in front of several order-apis), the alert sink and Alertmanager, and
Prometheus: each started only once the previous one is ready, each said in a
line, every one stopped by `close`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from otel_stack.cli.console import Console
from otel_stack.cli.up_dns import dns_spec, with_replica_dns
from otel_stack.cli.up_plan import LOCAL_TRACES_ENDPOINT, UpOptions, service_specs
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
from otel_stack.harness.processes import Service, ServiceSpec, StartupError
from otel_stack.harness.stack_tls import StackTls


class StackChildren:
    """The children started so far, the alert sink, and where each can be reached."""

    def __init__(self, options: UpOptions, console: Console, stop: threading.Event) -> None:
        self.options = options
        self.console = console
        self.stop = stop
        self.data_dir = options.data_dir.resolve()
        self.services: list[Service] = []
        # The order-apis and web-gateways among `services`.
        self.app_services: list[Service] = []
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
            self.start(dns)
            target = self.options.replica_dns.target(self.options.grpc_port)
            addresses = ", ".join(ports.grpc_target for ports in self.options.replica_ports)
            self.console.line(f"order-apis behind {target} ({addresses})")
        for spec in specs:
            self.app_services.append(self.start(spec))

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
        self.start(
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
        self.start(
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
        self.start(
            local_prometheus.spec(
                binary, self.data_dir, port=port, config_path=config_path, otlp_receiver=receiver
            )
        )
        self.prometheus_url = self.options.prometheus_url
        self.console.line(f"prometheus at {self.prometheus_url} (config {config_path})")

    def _make_certificates(self) -> None:
        """With --tls, once: a throwaway CA and every component's certificate (owner-only)."""
        if self.options.tls and self.tls is None:
            self.tls = stack_tls.create(self.data_dir / "tls")
            self.console.line(f"tls: throwaway CA and certificates in {self.tls.directory}")

    def start(self, spec: ServiceSpec) -> Service:
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

    def close(self) -> None:
        """Stop the alert sink and every child still running (last started first)."""
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        codes = processes.stop_all(self.services, grace=self.options.grace)
        if codes:
            stopped = ", ".join(f"{name} exit {code}" for name, code in codes.items())
            self.console.line(f"stopped: {stopped}")


def _append_lines(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.writelines(f"{line}\n" for line in lines)
