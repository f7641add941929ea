"""Prometheus 3.15.1 scrapes the order-api's /metrics over TLS; without a client certificate, no.

An order-api serves /metrics with TLS requiring a client certificate
(ORDER_API_METRICS_TLS_*, certificates made for the test): one process, and two
worker processes (their supervisor answers the port with every worker's series). Prometheus scrapes
it twice over, with the project's rendered configuration: the `order-api` job
presents Prometheus' certificate and is up with the service's series; a second
job trusting the same CA but presenting no certificate is down, refused in the
handshake.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_stack.deploy import prometheus_config
from otel_stack.harness import processes, stack_tls
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.running import (
    STARTUP_TIMEOUT_SECONDS,
    StackPorts,
    service_specs,
)
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus, running_prometheus

ANONYMOUS_JOB = "order-api-without-client-certificate"


@dataclass(frozen=True)
class Scraped:
    """Prometheus scraping the order-api both ways, and the order-api's log file."""

    prometheus: Prometheus
    order_api_log: Path


@pytest.fixture(scope="module", params=["1", "2"], ids=["one-process", "two-processes"])
def scraped(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Scraped]:
    directory = tmp_path_factory.mktemp("tls-prometheus")
    tls = stack_tls.create(directory / "tls")
    ports = StackPorts.free()
    environ = child_environ(
        {
            **tls.order_api_environ(),
            **tls.gateway_environ(),
            "ORDER_API_PROCESSES": request.param,
        }
    )
    spec = service_specs(ports, directory, environ, launcher=False)[0]
    order_api = processes.start(spec, timeout=STARTUP_TIMEOUT_SECONDS)
    target = f"127.0.0.1:{ports.metrics}"
    files = tls.prometheus
    config = prometheus_config.render(
        {prometheus_config.ORDER_API_JOB: [target], ANONYMOUS_JOB: [target]},
        scrape_interval="1s",
        rule_files=[],
        tls_configs={
            prometheus_config.ORDER_API_JOB: prometheus_config.tls_config(
                files.ca, files.cert, files.key
            ),
            ANONYMOUS_JOB: prometheus_config.tls_config(files.ca),
        },
    )
    try:
        with running_prometheus(directory / "prometheus", config) as server:
            wait_until(
                lambda: (
                    len(_targets(server)) == 2
                    and all(
                        target["lastScrape"] != "0001-01-01T00:00:00Z"
                        for target in _targets(server)
                    )
                ),
                60,
                "both jobs scraped once",
            )
            yield Scraped(server, spec.log_path)
    finally:
        processes.stop_all([order_api], grace=20)


def _targets(server: Prometheus) -> list[dict[str, str]]:
    targets: list[dict[str, str]] = [
        {
            "job": target["labels"]["job"],
            "health": target["health"],
            "lastError": target["lastError"],
            "scrapeUrl": target["scrapeUrl"],
            "lastScrape": target["lastScrape"],
        }
        for target in server.api("targets")["activeTargets"]
    ]
    return targets


def _target(server: Prometheus, job: str) -> dict[str, str]:
    (target,) = [target for target in _targets(server) if target["job"] == job]
    return target


def test_order_api_is_scraped_over_tls_with_a_client_certificate(scraped: Scraped) -> None:
    prometheus = scraped.prometheus
    wait_until(
        lambda: _target(prometheus, prometheus_config.ORDER_API_JOB)["health"] == "up",
        60,
        "the order-api job up",
    )
    assert _target(prometheus, prometheus_config.ORDER_API_JOB)["scrapeUrl"].startswith("https://")
    series = prometheus.query('grpc_requests_total{job="order-api",method="GetOrder"}')
    assert {sample["metric"]["status"] for sample in series} >= {"OK"}


def test_scrape_without_a_client_certificate_is_refused(scraped: Scraped) -> None:
    target = _target(scraped.prometheus, ANONYMOUS_JOB)
    assert target["health"] == "down"
    # Prometheus' error depends on timing (TLS 1.3 sends the refusal after its handshake:
    # "certificate required" or a reset); the order-api's log names the cause.
    assert target["lastError"]
    log = scraped.order_api_log.read_text()
    assert "metrics: TLS handshake with 127.0.0.1 failed" in log
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in log
