"""Histogram aggregation per reader: OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION.

The specification's variable selects the default histogram aggregation of the
OTLP metric exporter: `explicit_bucket_histogram` (the default) or
`base2_exponential_bucket_histogram`. Upstream's exporter reads it from
`os.environ` and only logs a warning for an unknown value; the services read it
once with the other OTEL_* variables (`otel.settings.TelemetrySettings`),
refuse an unknown value in one line (exit 2), and hand the choice to the OTLP
exporter explicitly (`otlp_preferred_aggregation`).

It changes only histograms whose aggregation no View fixes: the semantic-convention
durations (`http.server.request.duration`, `rpc.server.call.duration`,
`rpc.client.call.duration`). The contract's histograms keep the seed's buckets
on every path through explicit-bucket Views (`otel.views`). The Prometheus pull
reader always aggregates histograms into explicit buckets (`otel.exemplars`):
upstream's reader drops exponential histograms, and the classic text format has
no place for them.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)

from otel.settings import EXPLICIT_BUCKET_HISTOGRAM as EXPLICIT
from otel.settings import EXPONENTIAL_BUCKET_HISTOGRAM as EXPONENTIAL
from otel.settings import HISTOGRAM_AGGREGATION as VARIABLE

__all__ = ["EXPLICIT", "EXPONENTIAL", "VARIABLE", "otlp_preferred_aggregation"]


def otlp_preferred_aggregation(name: str) -> dict[type, Aggregation]:
    """The OTLP metric exporter's `preferred_aggregation` for an aggregation name (parsed
    by `otel.settings.histogram_aggregation_name`)."""
    if name == EXPONENTIAL:
        return {Histogram: ExponentialBucketHistogramAggregation()}
    return {Histogram: ExplicitBucketHistogramAggregation()}
