"""The collector stopped for 20 s while traffic runs: services unaffected, counters continue.

Both services push metrics and traces over OTLP only (the real OTLP path, no
`/metrics` of their own) to the real collector, which Prometheus scrapes. While
the collector is down, every request must still be answered (export is off the
request path), the services' memory must stay bounded (the SDK's span queue is
bounded; the metric reader keeps only cumulative state), and after the restart
Prometheus must show counters that continued: no reset, and exactly the requests
the load generator got answers to, per label set.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_stack.deploy import prometheus_config
from otel_stack.harness.load import LoadConfig, LoadGenerator, LoadSummary
from otel_stack.harness.otlp_receiver import OtlpReceiver
from otel_stack.harness.running import Stack
from tests.reliability.processes import rss_bytes
from tests.support import prometheus_expectations as checks
from tests.support.collector import RunningCollector, running_collector_path
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus, wait_for_fresh_scrapes

OUTAGE_SECONDS = 20.0
RATE = 20.0
# 20 s of 20 requests/s: far below the span queue's 2,048, so growth is buffers, not leaks.
MAX_RSS_GROWTH_BYTES = 32 * 1024 * 1024
GATEWAY_REQUESTS = 'http_requests_total{job="web-gateway", route!~"/readyz|/healthz"}'
LABELS = ("method", "route", "status_code")


@dataclass(frozen=True)
class Outage:
    summary: LoadSummary
    counted_before: int
    rss_before: dict[str, int]
    rss_peak: dict[str, int]
    prometheus: Prometheus
    spans_resumed: bool


def _counted(prometheus: Prometheus) -> dict[tuple[str, ...], int]:
    return checks.values(prometheus, GATEWAY_REQUESTS, LABELS)


def _expected(summary: LoadSummary) -> dict[tuple[str, ...], int]:
    return {
        (method, route, str(status)): count
        for (method, route, status), count in summary.counts.items()
    }


def _spans_resume(traces: OtlpReceiver, before: int) -> bool:
    """Whether gateway spans reach the trace backend again while traffic goes on.

    The exporter's gRPC channel reconnects on its own backoff (1 s growing 1.6 times
    per failed attempt, at most 120 s), and a batch that finds it still down is
    dropped after the exporter's 10 s of retries: spans resume with the traffic that
    follows the reconnection, so the load keeps running while this waits.
    """
    try:
        wait_until(lambda: len(traces.spans("web-gateway")) > before, 60, "spans resuming")
    except AssertionError:
        return False
    return True


def _stop_for(collector: RunningCollector, stack: Stack, rss_peak: dict[str, int]) -> None:
    collector.stop()
    deadline = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < deadline:  # the collector stays down for the whole OUTAGE_SECONDS
        for name, process in stack.processes.items():
            rss_peak[name] = max(rss_peak[name], rss_bytes(process.pid))
        time.sleep(0.5)
    collector.start()


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    tmp: Path = tmp_path_factory.mktemp("collector-down")
    environ = {
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with running_collector_path(tmp, environ) as path:
        stack, col, prometheus, traces = path.stack, path.collector, path.prometheus, path.traces
        load = LoadGenerator(
            LoadConfig(target=stack.gateway_url, rate=RATE, duration=180, concurrency=4)
        )
        load.start()
        try:
            wait_until(lambda: sum(_counted(prometheus).values()) > 0, 20, "counts")
            counted_before = sum(_counted(prometheus).values())
            rss_before = {n: rss_bytes(p.pid) for n, p in stack.processes.items()}
            rss_peak = dict(rss_before)
            _stop_for(col, stack, rss_peak)
            spans_before_restart = len(traces.spans("web-gateway"))
            wait_for_fresh_scrapes(prometheus, [prometheus_config.COLLECTOR_JOB], 30)
            spans_resumed = _spans_resume(traces, spans_before_restart)
        finally:
            load.stop()
            load.wait(timeout=15)
        summary = load.summary()
        wait_until(
            lambda: _counted(prometheus) == _expected(summary),
            30,
            "every answered request counted through the restarted collector",
        )
        yield Outage(
            summary,
            counted_before,
            rss_before,
            rss_peak,
            prometheus,
            spans_resumed,
        )


def test_every_request_is_answered_while_the_collector_is_down(outage: Outage) -> None:
    assert outage.summary.failures == {}
    server_errors = {key: n for key, n in outage.summary.counts.items() if key[2] >= 500}
    assert server_errors == {}
    assert outage.summary.responses >= RATE * OUTAGE_SECONDS * 0.5


def test_memory_stays_bounded_while_exports_fail(outage: Outage) -> None:
    growth = {name: outage.rss_peak[name] - outage.rss_before[name] for name in outage.rss_peak}
    assert all(grown <= MAX_RSS_GROWTH_BYTES for grown in growth.values()), growth


def test_counters_continue_after_the_restart_without_a_reset(outage: Outage) -> None:
    after = sum(_counted(outage.prometheus).values())
    assert after > outage.counted_before
    resets = checks.values(outage.prometheus, f"resets({GATEWAY_REQUESTS}[5m])", LABELS)
    assert set(resets.values()) == {0}


def test_counts_after_the_restart_equal_the_answered_requests(outage: Outage) -> None:
    assert _counted(outage.prometheus) == _expected(outage.summary)


def test_spans_flow_again_after_the_restart(outage: Outage) -> None:
    assert outage.spans_resumed, "no gateway span reached the trace backend within 60 s"
