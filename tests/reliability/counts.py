"""Counters read back for the reliability tests: from a /metrics scrape or from Prometheus.

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_stack.deploy import go_tools
from otel_stack.deploy.prometheus_config import local_targets, render
from otel_stack.harness.mix import RpcLabels
from otel_stack.harness.running import Stack
from otel_stack.harness.scrape import scrape
from tests.reliability.traffic import HttpLabels
from tests.support.prometheus import Prometheus, running_prometheus


def http_requests(url: str) -> Counter[HttpLabels]:
    """`http_requests_total` per (method, route, status_code) from a /metrics scrape."""
    return _counts(url, "http_requests_total", ("method", "route", "status_code"))


def http_duration_counts(url: str) -> Counter[HttpLabels]:
    """`http_request_duration_seconds_count` per (method, route, status_code)."""
    return _counts(url, "http_request_duration_seconds_count", ("method", "route", "status_code"))


def grpc_requests(url: str) -> Counter[RpcLabels]:
    """`grpc_requests_total` per (method, status) from the order-api's /metrics."""
    return _counts(url, "grpc_requests_total", ("method", "status"))


def _counts(url: str, name: str, labels: tuple[str, ...]) -> Counter[Any]:
    """Summed over every other label: the worker processes of one service, say."""
    counts: Counter[tuple[str, ...]] = Counter()
    for sample in scrape(url).samples(name):
        counts[tuple(sample.labels[label] for label in labels)] += int(sample.value)
    return counts


def delta(after: Counter[Any], before: Counter[Any]) -> dict[Any, int]:
    """Per label set, how much a counter moved (label sets that did not move are left out)."""
    moved = {key: after[key] - before[key] for key in after.keys() | before.keys()}
    return {key: value for key, value in moved.items() if value}


def sample_lines(text: str) -> int:
    """The number of samples (non-comment lines) in an exposition."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def prometheus_installed() -> bool:
    """Whether the tested Prometheus release has been built."""
    return go_tools.find(go_tools.PROMETHEUS, "prometheus") is not None


@contextmanager
def prometheus_scraping(directory: Path, stack: Stack) -> Iterator[Prometheus]:
    """A Prometheus scraping both services of `stack` every second (project config, no rules)."""
    targets = local_targets(_port(stack.gateway_url), _port(stack.order_api_metrics_url))
    config = render(targets, scrape_interval="1s", rule_files=())
    with running_prometheus(directory, config) as prometheus:
        yield prometheus


def prometheus_counts(prometheus: Prometheus, expr: str, labels: tuple[str, ...]) -> Counter[Any]:
    """The value of each series of `expr`, keyed by the values of `labels` (summed over others)."""
    counts: Counter[tuple[str, ...]] = Counter()
    for series in prometheus.query(expr):
        key = tuple(series["metric"].get(label, "") for label in labels)
        counts[key] += int(float(series["value"][1]))
    return counts


def _port(url: str) -> int:
    return int(urllib.parse.urlsplit(url).port or 0)
