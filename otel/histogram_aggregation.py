"""Histogram aggregation per reader: OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION.

The specification's variable selects the default histogram aggregation of the
OTLP metric exporter: `explicit_bucket_histogram` (the default) or
`base2_exponential_bucket_histogram`. Upstream's exporter reads it from
`os.environ` and only logs a warning for an unknown value; the services read it
here, from the environment `build_telemetry` is given, refuse an unknown value
in one line (exit 2), and hand the choice to the OTLP exporter explicitly.

It changes only histograms whose aggregation no View fixes: the semantic-convention
durations (`http.server.request.duration`, `rpc.server.call.duration`,
`rpc.client.call.duration`). The contract's histograms keep the seed's buckets
on every path through explicit-bucket Views (`otel.views`). The Prometheus pull
reader always aggregates histograms into explicit buckets (`otel.exemplars`):
upstream's reader drops exponential histograms, and the classic text format has
no place for them.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
)

from otel.exporters import TelemetryConfigError

VARIABLE = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
EXPLICIT = "explicit_bucket_histogram"
EXPONENTIAL = "base2_exponential_bucket_histogram"
VALUES = (EXPLICIT, EXPONENTIAL)


def default_histogram_aggregation(environ: Mapping[str, str]) -> str:
    """The variable's value (`explicit_bucket_histogram` unless set); an unknown one is an error."""
    raw = environ.get(VARIABLE, "").strip()
    if not raw:
        return EXPLICIT
    if raw.lower() not in VALUES:
        raise TelemetryConfigError(
            f"{VARIABLE}={raw!r}: unknown aggregation (valid: {', '.join(VALUES)})"
        )
    return raw.lower()


def otlp_preferred_aggregation(environ: Mapping[str, str]) -> dict[type, Aggregation]:
    """The OTLP metric exporter's `preferred_aggregation` for the variable's choice."""
    if default_histogram_aggregation(environ) == EXPONENTIAL:
        return {Histogram: ExponentialBucketHistogramAggregation()}
    return {Histogram: ExplicitBucketHistogramAggregation()}
