"""The Views every MeterProvider of the project is built with.

- The order-api's one RPC duration instrument feeds two streams: the semantic
  convention's `rpc_server_call_duration_seconds` and the contract's
  `grpc_request_duration_seconds{method}` with its own buckets. One measurement
  instead of two keeps the interceptor cheap.
- The contract's histograms have the seed's buckets fixed by a View, not only
  advised by the instrument: an exporter asked for exponential histograms
  (OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION) changes the
  semantic-convention durations only, and every contract query keeps working.
- Runtime gauges whose semconv names end in `.count` are renamed, because a
  Prometheus gauge ending in `_count` reads as part of a histogram (promtool
  rejects it).
"""

from __future__ import annotations

from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.semconv._incubating.metrics.rpc_metrics import RPC_SERVER_CALL_DURATION

from otel.instruments import (
    DURATION_BUCKETS,
    GRPC_REQUEST_DURATION,
    HTTP_REQUEST_DURATION,
    METER_NAME,
    RPC_ATTRIBUTES,
)

_SYSTEM_METRICS_SCOPE = "opentelemetry.instrumentation.system_metrics"


def default_views() -> list[View]:
    """Return the project's Views (pass them to every MeterProvider, tests included)."""
    return [
        View(
            meter_name=METER_NAME,
            instrument_name=RPC_SERVER_CALL_DURATION,
            attribute_keys=set(RPC_ATTRIBUTES),
        ),
        View(
            meter_name=METER_NAME,
            instrument_name=RPC_SERVER_CALL_DURATION,
            name=GRPC_REQUEST_DURATION,
            description="Time to serve an RPC of the order-api, by method.",
            attribute_keys={"method"},
            aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS),
        ),
        View(
            meter_name=METER_NAME,
            instrument_name=HTTP_REQUEST_DURATION,
            aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS),
        ),
        View(
            meter_name=_SYSTEM_METRICS_SCOPE,
            instrument_name="process.thread.count",
            name="process.threads",
        ),
        View(
            meter_name=_SYSTEM_METRICS_SCOPE,
            instrument_name="process.open_file_descriptor.count",
            name="process.open_file_descriptors",
        ),
    ]
