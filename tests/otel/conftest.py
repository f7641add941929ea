"""Fixtures for telemetry unit tests: a fresh in-memory MeterProvider per test, and
telemetry built from a configuration file as a service builds it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    NumberDataPoint,
)
from opentelemetry.trace import NoOpTracerProvider

from otel.sdk import Telemetry, build_telemetry
from otel.settings import TelemetrySettings
from otel.views import default_views
from services import envconfig
from tests.otel.config_files import EnvTelemetry, FileTelemetry


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


@pytest.fixture
def env_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[EnvTelemetry]:
    """`build_telemetry("probe-service", …)` from keyword variables; shut down afterwards.

    The variables are parsed as a service parses them (its OTEL_* settings and
    ACCESS_LOG). The SDK's own components (resource detector, OTLP exporters) and
    a configuration file's `${NAME}` references read os.environ, so the variables
    are set there too, and the caller's OTEL_* and ACCESS_LOG are removed.
    """
    for name in [name for name in os.environ if name.startswith(("OTEL_", "ACCESS_LOG"))]:
        monkeypatch.delenv(name)
    built: list[Telemetry] = []

    def _build(**environ: str) -> Telemetry:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        telemetry = build_telemetry(
            "probe-service",
            TelemetrySettings.from_env(environ),
            access_log_ratio=envconfig.access_log(environ),
        )
        built.append(telemetry)
        return telemetry

    yield _build
    for telemetry in built:
        telemetry.shutdown()


@pytest.fixture
def file_telemetry(env_telemetry: EnvTelemetry) -> FileTelemetry:
    """`env_telemetry` with OTEL_CONFIG_FILE=path (the path first, then the variables)."""

    def _build(path: Path, **environ: str) -> Telemetry:
        return env_telemetry(**{"OTEL_CONFIG_FILE": str(path), **environ})

    return _build
