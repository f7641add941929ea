"""Worker processes pushing over OTLP, under the launcher, through the real collector.

Both services run under `opentelemetry-instrument` with 2 worker processes each and
`OTEL_METRICS_EXPORTER=otlp` to the collector built from otelcol/builder-config.yaml.
The collector's `prometheus` exporter (what Prometheus scrapes in compose) must show
each service as two instances — one `service.instance.id` per worker, and no
supervisor — whose counters sum to exactly what was sent. Then a second burst is sent
and both supervisors get SIGTERM at once: the workers' last export on shutdown must
bring the sums to exactly both bursts (the periodic export is every 3 s, so most of
the second burst arrives only through that last flush).
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from otel_stack.harness.otlp_receiver import running_receiver
from otel_stack.harness.running import GATEWAY, ORDER_API, Stack, running_stack
from otel_stack.harness.scrape import Exposition, scrape
from tests.support.collector import RunningCollector, running_collector
from tests.support.known_traffic import GATEWAY_COUNTS, ORDER_API_COUNTS, send_known_mix
from tests.support.polling import wait_until

WORKERS = 2
HTTP_LABELS = ("method", "route", "status_code")
RPC_LABELS = ("method", "status")
PROBES = ("/readyz", "/healthz")


@dataclass(frozen=True)
class Pushing:
    stack: Stack
    collector: RunningCollector

    def exported(self) -> Exposition:
        """The collector's `prometheus` exporter: every pushed series, with job and instance."""
        return scrape(f"http://{self.collector.ports.prometheus_target}/metrics")


@pytest.fixture(scope="module")
def pushing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushing]:
    directory = tmp_path_factory.mktemp("workers-otlp")
    with (
        running_receiver() as (_traces, traces_port),
        running_collector(
            directory / "collector", traces_endpoint=f"127.0.0.1:{traces_port}"
        ) as collector,
    ):
        environ = {
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.ports.otlp_endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "3000",
            "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-a",
            "ACCESS_LOG": "off",
        }
        (directory / "services").mkdir()
        with running_stack(
            directory / "services", launcher=True, environ=environ, worker_processes=WORKERS
        ) as stack:
            yield Pushing(stack, collector)


def _sums(exposition: Exposition, job: str, name: str, labels: tuple[str, ...]) -> Counter[Any]:
    """Summed over instances; the harness's readiness probes are left out."""
    counts: Counter[tuple[str, ...]] = Counter()
    for sample in exposition.samples(name):
        if sample.labels.get("job") == job and sample.labels.get("route") not in PROBES:
            counts[tuple(sample.labels[label] for label in labels)] += int(sample.value)
    return +counts


def _instances(exposition: Exposition, job: str) -> set[str]:
    return {
        sample.labels["instance"]
        for sample in exposition.samples("target_info")
        if sample.labels.get("job") == job
    }


def test_each_worker_is_an_instance_and_the_sums_are_exact(pushing: Pushing) -> None:
    send_known_mix(pushing.stack, scrapes=False)
    expected_http = +Counter(GATEWAY_COUNTS)
    expected_rpc = +Counter(ORDER_API_COUNTS)
    wait_until(
        lambda: (
            _sums(pushing.exported(), GATEWAY, "http_requests_total", HTTP_LABELS) == expected_http
            and _sums(pushing.exported(), ORDER_API, "grpc_requests_total", RPC_LABELS)
            == expected_rpc
        ),
        60,
        "the collector exporting exactly the mix's counts",
    )
    exported = pushing.exported()
    # A user-set service.instance.id gets each worker's index: two instances, no supervisor.
    assert _instances(exported, GATEWAY) == {"pod-a-0", "pod-a-1"}
    assert _instances(exported, ORDER_API) == {"pod-a-0", "pod-a-1"}


def test_sigterm_flushes_the_last_metrics_of_every_worker(pushing: Pushing) -> None:
    send_known_mix(pushing.stack, scrapes=False)
    for service in (GATEWAY, ORDER_API):
        pushing.stack.services[service].signal(signal.SIGTERM)
    for service in (GATEWAY, ORDER_API):
        assert pushing.stack.services[service].process.wait(timeout=60) == 0
    exported = pushing.exported()
    twice_http = +Counter({key: 2 * value for key, value in GATEWAY_COUNTS.items()})
    twice_rpc = +Counter({key: 2 * value for key, value in ORDER_API_COUNTS.items()})
    assert _sums(exported, GATEWAY, "http_requests_total", HTTP_LABELS) == twice_http
    assert _sums(exported, ORDER_API, "grpc_requests_total", RPC_LABELS) == twice_rpc
