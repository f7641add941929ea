"""`otel-stack up --otlp-prometheus`, the third metrics path: the services push OTLP to Prometheus.

Prometheus 3 runs with its OTLP receiver (`prometheus_config.OTLP_RECEIVER_FLAGS`
and `otlp_settings`); both services export metrics with the standard variables
only: OTLP/HTTP protobuf (the receiver speaks nothing else) to
`<prometheus>/api/v1/otlp/v1/metrics`, the semantic-convention durations as
exponential histograms, which Prometheus stores as native histograms. What the
user set explicitly (an export interval, the aggregation) is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from otel.histogram_aggregation import EXPONENTIAL
from otel.histogram_aggregation import VARIABLE as HISTOGRAM_AGGREGATION
from otel_stack.deploy.prometheus_config import OTLP_METRICS_PATH

# Pushed at the live view's pace rather than the SDK's 60 s default.
EXPORT_INTERVAL_MS = "2000"


def metrics_endpoint(prometheus_url: str) -> str:
    """Where an OTLP/HTTP metric exporter posts to reach Prometheus at `prometheus_url`."""
    return prometheus_url.rstrip("/") + OTLP_METRICS_PATH


def service_environ(environ: Mapping[str, str], prometheus_url: str) -> dict[str, str]:
    """`environ` set up to push metrics straight to Prometheus' OTLP receiver."""
    return {
        **environ,
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": metrics_endpoint(prometheus_url),
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
        HISTOGRAM_AGGREGATION: environ.get(HISTOGRAM_AGGREGATION, EXPONENTIAL),
        "OTEL_METRIC_EXPORT_INTERVAL": environ.get(
            "OTEL_METRIC_EXPORT_INTERVAL", EXPORT_INTERVAL_MS
        ),
    }
