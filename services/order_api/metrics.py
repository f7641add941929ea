"""The order-api's own business metric: `orders_created_total`.

Created on the project's meter (`otel.instruments.project_meter`), so it is
exported with the services' other instruments.
"""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

from otel.instruments import project_meter


class OrderMetrics:
    """`orders_created_total`: orders stored for the first time (idempotent retries excluded)."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        self._created = project_meter(meter_provider).create_counter(
            "orders.created",
            unit="{order}",
            description="Orders created by the order-api (idempotent retries are not counted).",
        )
        self._created.add(0)

    def order_created(self) -> None:
        """Count one newly created order."""
        self._created.add(1)
