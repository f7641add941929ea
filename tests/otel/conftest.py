"""Fixtures for telemetry unit tests: a fresh in-memory MeterProvider per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
)
from opentelemetry.trace import NoOpTracerProvider

from otel.sdk import Telemetry
from otel.views import default_views


@dataclass
class Recorded:
    """Telemetry injected into code under test, and a way to read what it recorded."""

    telemetry: Telemetry
    reader: InMemoryMetricReader

    def metrics(self) -> dict[str, Metric]:
        """Every metric collected so far, by name."""
        data = self.reader.get_metrics_data()
        if data is None:
            return {}
        return {
            metric.name: metric
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    def points(self, name: str) -> dict[frozenset[tuple[str, object]], object]:
        """The data points of one metric keyed by their attributes."""
        metric = self.metrics()[name]
        return {
            frozenset((point.attributes or {}).items()): point for point in metric.data.data_points
        }

    def count(self, name: str, **attributes: str) -> float:
        """The value of a counter's point, or the count of a histogram's point (0 if absent)."""
        point = self.points(name).get(frozenset(attributes.items()))
        if point is None:
            return 0
        if isinstance(point, HistogramDataPoint):
            return point.count
        assert isinstance(point, NumberDataPoint)
        return point.value


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=default_views())
    telemetry = Telemetry("test-service", provider, NoOpTracerProvider())
    yield Recorded(telemetry, reader)
    provider.shutdown()
