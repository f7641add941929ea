"""The order in which a service's telemetry stops, whichever way it was configured.

The access log first (its last lines may still go to the logger provider), then
spans, metrics and logs, so each exporter sends what it holds before it stops.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import TracerProvider

from otel.access_log import AccessLog


def shutdown_in_order(
    access_log: AccessLog,
    tracer_provider: TracerProvider,
    meter_provider: SdkMeterProvider,
    logger_provider: LoggerProvider | None,
) -> Callable[[], None]:
    """A function that closes the access log, then stops the providers (SDK ones only)."""

    def shutdown() -> None:
        access_log.close()
        if isinstance(tracer_provider, SdkTracerProvider):
            tracer_provider.shutdown()
        meter_provider.shutdown()
        if logger_provider is not None:
            logger_provider.shutdown()

    return shutdown
