"""The three signals joined, over real processes: exemplars, access lines and OTLP logs name traces.

Both services run under the launcher with traces and logs exported over OTLP
to an in-memory receiver, scraped every second by a real Prometheus with
exemplar storage. After a known mix of requests, the trace ids found in
Prometheus' exemplars, in the services' JSON access lines and in the OTLP log
records must be traces the receiver got. The log batch delay is a minute, so
the OTLP log records can only arrive through the flush at shutdown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_stack.deploy.prometheus_config import local_targets, render
from otel_stack.harness.local_prometheus import rule_files
from otel_stack.harness.otlp_receiver import OtlpReceiver, running_receiver
from otel_stack.harness.running import GATEWAY, ORDER_API, running_stack
from otel_stack.harness.scrape import Exposition, scrape
from tests.support.known_traffic import send_known_mix
from tests.support.prometheus import running_prometheus, wait_for_fresh_scrapes

JOBS = ["web-gateway", "order-api"]
ORDER_SERVICE = "orders.v1.OrderService"


@dataclass(frozen=True)
class Joined:
    """What one run left behind: the receiver, the services' logs, Prometheus' exemplars."""

    receiver: OtlpReceiver
    logs: dict[str, str]
    exemplars: dict[str, list[dict[str, Any]]]
    openmetrics: dict[str, Exposition]
    logs_before_shutdown: int


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _environ(otlp_port: int) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BLRP_SCHEDULE_DELAY": "60000",
    }


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Joined]:
    tmp: Path = tmp_path_factory.mktemp("signals")
    with running_receiver() as (receiver, otlp_port):
        with running_stack(tmp / "services", launcher=True, environ=_environ(otlp_port)) as stack:
            config = render(
                local_targets(_port(stack.gateway_url), _port(stack.order_api_metrics_url)),
                scrape_interval="1s",
                rule_files=rule_files(),
            )
            with running_prometheus(tmp / "prometheus", config) as prometheus:
                send_known_mix(stack)
                wait_for_fresh_scrapes(prometheus, JOBS)
                wait_for_fresh_scrapes(prometheus, JOBS)
                now = time.time()
                exemplars = {
                    metric: prometheus.api(
                        "query_exemplars",
                        query=metric,
                        start=str(now - 300),
                        end=str(now + 60),
                    )
                    for metric in (
                        "http_request_duration_seconds_bucket",
                        "grpc_request_duration_seconds_bucket",
                    )
                }
            openmetrics = {
                GATEWAY: scrape(stack.gateway_url + "/metrics", openmetrics=True),
                ORDER_API: scrape(stack.order_api_metrics_url, openmetrics=True),
            }
            logs_before_shutdown = len(receiver.log_records(GATEWAY))
        logs = {name: stack.log(name) for name in (GATEWAY, ORDER_API)}
        yield Joined(receiver, logs, exemplars, openmetrics, logs_before_shutdown)


def _hex(raw: bytes) -> str:
    return raw.hex()


def _server_spans(receiver: OtlpReceiver, service: str) -> list[trace_pb2.Span]:
    return [s for s in receiver.spans(service) if s.kind == trace_pb2.Span.SPAN_KIND_SERVER]


def _traces(receiver: OtlpReceiver, service: str, name_prefix: str = "") -> set[str]:
    return {
        _hex(span.trace_id)
        for span in _server_spans(receiver, service)
        if span.name.startswith(name_prefix)
    }


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _access_lines(log: str) -> list[dict[str, Any]]:
    return [line for line in _json_lines(log) if line["logger"] == "access"]


def _exemplar_traces(joined: Joined, metric: str, job: str) -> set[str]:
    return {
        exemplar["labels"]["trace_id"]
        for series in joined.exemplars[metric]
        if series["seriesLabels"]["job"] == job
        for exemplar in series["exemplars"]
    }


def test_every_log_line_of_both_services_is_one_json_object(joined: Joined) -> None:
    for service in (GATEWAY, ORDER_API):
        lines = joined.logs[service].splitlines()
        assert lines, service
        for line in lines:
            document = json.loads(line)
            assert document["service.name"] == service
            assert {"time", "level", "logger", "message"} <= document.keys()
        messages = [json.loads(line)["message"] for line in lines]
        assert any(f"{service} serving" in message for message in messages)
        assert f"{service} stopped" in messages


def test_gateway_access_lines_name_exactly_the_traces_of_its_requests(joined: Joined) -> None:
    lines = _access_lines(joined.logs[GATEWAY])
    assert {line["trace_id"] for line in lines} == _traces(joined.receiver, GATEWAY)
    routes = {(line["http.request.method"], line["http.route"]) for line in lines}
    assert ("GET", "/orders/<order_id>") in routes and ("_OTHER", "unmatched") in routes
    assert all(isinstance(line["duration_ms"], float) and line["span_id"] for line in lines)


def test_order_api_access_lines_name_traces_that_began_at_the_gateway(joined: Joined) -> None:
    lines = _access_lines(joined.logs[ORDER_API])
    traces = {line["trace_id"] for line in lines}
    assert traces == _traces(joined.receiver, ORDER_API, f"/{ORDER_SERVICE}/")
    assert len(lines) == 7  # the RPCs of the known mix; health checks get no access line
    assert traces <= _traces(joined.receiver, GATEWAY)


def test_otlp_log_records_arrive_at_shutdown_with_the_same_trace_ids(joined: Joined) -> None:
    assert joined.logs_before_shutdown == 0
    for service in (GATEWAY, ORDER_API):
        records: list[logs_pb2.LogRecord] = joined.receiver.log_records(service)
        access = [r for r in records if {a.key for a in r.attributes} >= {"duration_ms"}]
        lines = _access_lines(joined.logs[service])
        assert sorted(_hex(r.trace_id) for r in access) == sorted(x["trace_id"] for x in lines)
        assert sorted(_hex(r.span_id) for r in access) == sorted(x["span_id"] for x in lines)
        assert any(r.body.string_value == f"{service} stopped" for r in records)


def test_prometheus_stores_gateway_exemplars_that_are_traces_across_both_services(
    joined: Joined,
) -> None:
    traces = _exemplar_traces(joined, "http_request_duration_seconds_bucket", "web-gateway")
    assert traces
    assert traces <= _traces(joined.receiver, GATEWAY)
    assert traces & _traces(joined.receiver, ORDER_API)


def test_prometheus_stores_order_api_exemplars_of_traced_rpcs(joined: Joined) -> None:
    traces = _exemplar_traces(joined, "grpc_request_duration_seconds_bucket", "order-api")
    assert traces
    assert traces <= _traces(joined.receiver, ORDER_API, f"/{ORDER_SERVICE}/")
    assert traces <= _traces(joined.receiver, GATEWAY)


@pytest.mark.parametrize(
    ("service", "family"),
    [
        (GATEWAY, "http_request_duration_seconds"),
        (GATEWAY, "http_server_request_duration_seconds"),
        (ORDER_API, "grpc_request_duration_seconds"),
        (ORDER_API, "rpc_server_call_duration_seconds"),
    ],
)
def test_openmetrics_shows_exemplars_on_the_latency_histograms(
    joined: Joined, service: str, family: str
) -> None:
    exemplars = joined.openmetrics[service].exemplars(family, by=())
    assert exemplars
    received = _traces(joined.receiver, service)
    assert {exemplar.labels["trace_id"] for exemplar in exemplars[()]} <= received


def test_gateway_rpc_client_exemplars_are_the_requests_server_spans(joined: Joined) -> None:
    # Recorded when the call returns, after the gRPC client span has ended.
    exemplars = joined.openmetrics[GATEWAY].exemplars("rpc_client_call_duration_seconds", by=())
    assert exemplars
    server_spans = {_hex(span.span_id) for span in _server_spans(joined.receiver, GATEWAY)}
    assert {exemplar.labels["span_id"] for exemplar in exemplars[()]} <= server_spans


def test_without_tracing_there_are_no_exemplars_and_lines_have_no_trace(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        send_known_mix(stack)
        exposition = scrape(stack.gateway_url + "/metrics", openmetrics=True)
        assert exposition.exemplars("http_request_duration_seconds", by=()) == {}
    lines = _access_lines(stack.log(GATEWAY))
    assert lines and all("trace_id" not in line for line in lines)


def test_access_lines_can_be_turned_off(tmp_path: Path) -> None:
    with running_stack(tmp_path, environ={"ACCESS_LOG": "off"}) as stack:
        send_known_mix(stack)
    for service in (GATEWAY, ORDER_API):
        lines = _json_lines(stack.log(service))
        assert lines and not [line for line in lines if line["logger"] == "access"]
