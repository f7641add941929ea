"""`orders_created_total` (services/order_api/metrics.py), read from an in-memory reader."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from services.order_api.metrics import OrderMetrics


def _orders_created(reader: InMemoryMetricReader) -> list[float]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "orders.created"
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    ]


def test_orders_created_starts_at_zero_and_counts() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = OrderMetrics(provider)
    assert _orders_created(reader) == [0]

    metrics.order_created()
    metrics.order_created()

    assert _orders_created(reader) == [2]
    provider.shutdown()
