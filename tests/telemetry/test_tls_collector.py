"""OTLP over TLS and mTLS to the real collector, through the standard variables only.

The collector runs collector-config.yaml with its receivers' TLS turned on by
`OTELCOL_OTLP_TLS*`; both services push metrics, traces and logs with nothing but
`OTEL_EXPORTER_OTLP_ENDPOINT=https://…`, `OTEL_EXPORTER_OTLP_CERTIFICATE`,
`_CLIENT_CERTIFICATE` and `_CLIENT_KEY`, in process and under the launcher. The
collector forwards traces and logs (plaintext, on loopback) to a test receiver
and re-exposes the metrics, where the test reads them. A wrong CA costs export
errors in the service's log, never a request; once the collector presents a
certificate the service trusts, data flows again without restarting the service.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from otel_stack.harness import processes, stack_tls
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.http_call import call
from otel_stack.harness.otlp_receiver import OtlpReceiver, running_receiver, serving_otlp_http
from otel_stack.harness.running import (
    GATEWAY,
    ORDER_API,
    STARTUP_TIMEOUT_SECONDS,
    StackPorts,
    running_stack,
    service_specs,
)
from otel_stack.harness.scrape import Exposition, ScrapeError, scrape
from otel_stack.harness.stack_tls import StackTls
from services.proto.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.collector import RunningCollector, running_collector
from tests.support.polling import wait_until

PUSHING = {
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
    # Export attempts give up quickly while the collector cannot be trusted.
    "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
}
ORDER = {"customer_id": "c-1", "items": [{"sku": "s-1", "quantity": 1, "unit_price_cents": 1}]}
FLOW_TIMEOUT_SECONDS = 60.0
CALLS_WHILE_UNTRUSTED = 3


@contextmanager
def _collector(
    directory: Path, tls: StackTls, *, client_auth: bool
) -> Iterator[tuple[RunningCollector, OtlpReceiver]]:
    with (
        running_receiver() as (sink, sink_port),
        serving_otlp_http(sink) as logs_port,
        running_collector(
            directory,
            traces_endpoint=f"127.0.0.1:{sink_port}",
            logs_endpoint=f"http://127.0.0.1:{logs_port}",
            environ=tls.collector_environ(client_auth=client_auth),
        ) as collector,
    ):
        yield collector, sink


def _exported(collector: RunningCollector) -> Exposition | None:
    try:
        return scrape(f"http://{collector.ports.prometheus_target}/metrics")
    except ScrapeError:
        return None


def _counted_by_collector(collector: RunningCollector, job: str, metric: str) -> float:
    exposition = _exported(collector)
    if exposition is None:
        return 0.0
    return sum(
        sample.value for sample in exposition.samples(metric) if sample.labels.get("job") == job
    )


@pytest.mark.parametrize("client_auth", [False, True], ids=["tls", "mtls"])
@pytest.mark.parametrize("launcher", [False, True], ids=["in-process", "launcher"])
def test_every_signal_reaches_the_collector_over_tls(
    tmp_path: Path, launcher: bool, client_auth: bool
) -> None:
    tls = stack_tls.create(tmp_path / "tls")
    with _collector(tmp_path / "collector", tls, client_auth=client_auth) as (collector, sink):
        endpoint = f"https://localhost:{collector.ports.otlp_grpc}"
        environ = {**PUSHING, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        environ |= (
            tls.otlp_environ(tls.web_gateway)
            if client_auth
            else {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(tls.ca)}
        )
        with running_stack(tmp_path / "services", launcher=launcher, environ=environ) as stack:
            assert call("POST", f"{stack.gateway_url}/orders", ORDER, timeout=10).status == 201

            wait_until(
                lambda: _counted_by_collector(collector, "order-api", "orders_created_total") == 1,
                FLOW_TIMEOUT_SECONDS,
                "the order-api's metrics at the collector",
            )
            wait_until(
                lambda: _counted_by_collector(collector, "web-gateway", "http_requests_total") >= 1,
                FLOW_TIMEOUT_SECONDS,
                "the gateway's metrics at the collector",
            )
            for service in ("web-gateway", "order-api"):
                _wait_for(functools.partial(_has_spans, sink, service), f"{service}'s spans")
                _wait_for(functools.partial(_has_logs, sink, service), f"{service}'s logs")
            for name in (GATEWAY, ORDER_API):
                assert "Failed to export" not in stack.log(name)


def test_exporter_without_a_client_certificate_is_refused_by_mtls(tmp_path: Path) -> None:
    tls = stack_tls.create(tmp_path / "tls")
    with _collector(tmp_path / "collector", tls, client_auth=True) as (collector, sink):
        environ = {
            **PUSHING,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://localhost:{collector.ports.otlp_grpc}",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(tls.ca),
        }
        with running_stack(tmp_path / "services", environ=environ) as stack:
            _wait_for(lambda: "Failed to export" in stack.log(ORDER_API), "the exporter's error")
            assert call("GET", f"{stack.gateway_url}/orders", timeout=10).status == 200
            assert _counted_by_collector(collector, "order-api", "grpc_requests_total") == 0
            assert not sink.spans("order-api")


def test_wrong_ca_logs_the_exporters_error_and_data_flows_once_fixed(tmp_path: Path) -> None:
    tls = stack_tls.create(tmp_path / "tls")
    stranger = stack_tls.create(tmp_path / "another-ca")
    ports = StackPorts.free()
    with _collector(tmp_path / "collector", stranger, client_auth=False) as (collector, _sink):
        environ = {
            **PUSHING,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://localhost:{collector.ports.otlp_grpc}",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(tls.ca),
        }
        spec = service_specs(ports, tmp_path, child_environ(environ), launcher=False)[0]
        order_api = processes.start(spec, timeout=STARTUP_TIMEOUT_SECONDS)
        try:
            _wait_for(
                lambda: _exporter_said(order_api.log(), "CERTIFICATE_VERIFY_FAILED"),
                "the exporter's certificate error in the order-api's log",
            )
            with grpc.insecure_channel(ports.grpc_target) as channel:
                stub = orders_pb2_grpc.OrderServiceStub(channel)
                for _ in range(CALLS_WHILE_UNTRUSTED):
                    with pytest.raises(grpc.RpcError) as error:
                        stub.GetOrder(orders_pb2.GetOrderRequest(id="o-1"), timeout=10)
                    assert error.value.code() == grpc.StatusCode.NOT_FOUND
            # The fix: the collector comes back on its port with a certificate from the CA
            # the service trusts; the service is not restarted.
            collector.stop()
            collector.spec = dataclasses.replace(
                collector.spec,
                env={**collector.spec.env, **tls.collector_environ(client_auth=False)},
            )
            collector.start()
            # Counters are cumulative: the first export after the fix carries every call.
            _wait_for(
                lambda: (
                    _counted_by_collector(collector, "order-api", "grpc_requests_total")
                    == CALLS_WHILE_UNTRUSTED
                ),
                "the calls made while the collector was untrusted, counted at the collector",
            )
            assert order_api.exit_code() is None
            assert "Traceback" not in order_api.log()
        finally:
            processes.stop_all([order_api], grace=20)


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    wait_until(predicate, FLOW_TIMEOUT_SECONDS, what)


def _has_spans(sink: OtlpReceiver, service: str) -> bool:
    return bool(sink.spans(service))


def _has_logs(sink: OtlpReceiver, service: str) -> bool:
    return bool(sink.log_records(service))


def _exporter_said(log: str, text: str) -> bool:
    """Whether an OTLP exporter's own log line (JSON, its logger) contains `text`."""
    return any(
        '"logger":"opentelemetry.exporter.otlp' in line and text in line
        for line in log.splitlines()
    )
