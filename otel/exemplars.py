"""Exemplars: which measurements keep one, and putting them on the Prometheus histogram buckets.

The SDK keeps exemplars on histogram data points (one per bucket, with the
trace and span ids of the measurement's span) when its exemplar filter lets
them through; `exemplar_filter` chooses that filter. Upstream's
`PrometheusMetricReader` drops them when it translates the data points, so
`ExemplarPrometheusReader` wraps it without changing its translation: it lets
the upstream reader translate into a private registry, keeps the exemplars of
the same collection, and adds each one to the bucket sample it belongs to.
prometheus_client writes exemplars in the OpenMetrics format only, so the
classic text format is unchanged.
"""

from __future__ import annotations

import json
import math
import threading
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader

# The upstream reader's own name rules (no public module has them); a test fails if they change.
from opentelemetry.exporter.prometheus._mapping import sanitize_attribute, sanitize_full_name
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics._internal.instrument import _Histogram
from opentelemetry.sdk.metrics.export import Histogram, MetricsData
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.samples import Exemplar as PrometheusExemplar

_FILTERS: dict[str, type[ExemplarFilter]] = {
    "trace_based": TraceBasedExemplarFilter,
    "always_on": AlwaysOnExemplarFilter,
    "always_off": AlwaysOffExemplarFilter,
}

# (family base name, label set without `le`) -> {bucket upper bound: exemplar}
_LabelKey = frozenset[tuple[str, str]]
_Index = dict[tuple[str, _LabelKey], dict[float, PrometheusExemplar]]


def exemplar_filter(name: str | None, tracing: bool) -> ExemplarFilter:
    """The filter OTEL_METRICS_EXEMPLAR_FILTER names; unset: trace-based with tracing, else off.

    The specification's default is `trace_based`; without tracing no span is
    sampled, so nothing would pass it, and `always_off` skips the check on every
    measurement.
    """
    if name is None:
        return TraceBasedExemplarFilter() if tracing else AlwaysOffExemplarFilter()
    return _FILTERS[name]()


class ExemplarPrometheusReader(PrometheusMetricReader):
    """Upstream's Prometheus reader, with the SDK's histogram exemplars on the bucket samples.

    Registers one collector on `registry`; each scrape runs one SDK collection
    (as upstream does), serialised with the others. The SDK hands each exemplar
    to one collection only; a bucket keeps showing its latest exemplar until a
    newer one replaces it (as prometheus_client's own histograms do), so
    Prometheus and a second scraper (the live view) both see it. Only exemplars
    with a trace id are shown: they are what links a bucket to a trace.
    """

    def __init__(self, *, registry: CollectorRegistry, **kwargs: Any) -> None:
        self._translated = CollectorRegistry(auto_describe=False)
        super().__init__(registry=self._translated, **kwargs)
        # Upstream's reader takes no preferred aggregation and drops exponential
        # histograms: pin explicit (advisory) buckets, whatever the OTLP side aggregates.
        # (Keyed by the SDK's private instrument class, as MetricReader keys it; its
        # annotation narrows the values to the DefaultAggregation it starts with.)
        explicit = ExplicitBucketHistogramAggregation()
        self._instrument_class_aggregation[_Histogram] = explicit  # type: ignore[assignment]
        self._outer_registry = registry
        self._index: _Index = {}
        self._lock = threading.Lock()
        self._outer = _ExemplarCollector(self)
        registry.register(self._outer)

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if metrics_data is not None:
            for key, by_bucket in index_exemplars(metrics_data).items():
                self._index.setdefault(key, {}).update(by_bucket)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    def families(self) -> Iterator[Metric]:
        """Collect once and yield the translated families, exemplars added."""
        with self._lock:
            families = list(self._translated.collect())
            if self._index:
                names = {name for name, _labels in self._index}
                for family in families:
                    _add_exemplars(family, self._index, names)
        yield from families

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._outer_registry.unregister(self._outer)
        super().shutdown(timeout_millis, **kwargs)


class _ExemplarCollector:
    """The collector the services' registry sees (prometheus_client's collector protocol)."""

    def __init__(self, reader: ExemplarPrometheusReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        return self._reader.families()


def index_exemplars(metrics_data: MetricsData) -> _Index:
    """The traced exemplars of every histogram point, by Prometheus name, labels and bucket."""
    index: _Index = {}
    for resource_metrics in metrics_data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if not isinstance(metric.data, Histogram):
                    continue
                name = sanitize_full_name(metric.name)
                for point in metric.data.data_points:
                    if not point.exemplars:
                        continue
                    by_bucket: dict[float, PrometheusExemplar] = {}
                    bounds = point.explicit_bounds
                    for exemplar in point.exemplars:
                        if not exemplar.trace_id or not exemplar.span_id:
                            continue
                        slot = bisect_left(bounds, exemplar.value)
                        upper = bounds[slot] if slot < len(bounds) else math.inf
                        by_bucket[upper] = PrometheusExemplar(
                            {
                                "trace_id": format(exemplar.trace_id, "032x"),
                                "span_id": format(exemplar.span_id, "016x"),
                            },
                            exemplar.value,
                            exemplar.time_unix_nano / 1e9,
                        )
                    if by_bucket:
                        index[(name, _label_key(point.attributes or {}))] = by_bucket
    return index


def _label_key(attributes: Mapping[str, AttributeValue]) -> _LabelKey:
    # As upstream: sanitised keys, non-strings as JSON; empty values are left out on both
    # sides because upstream back-fills labels a point lacks with "".
    return frozenset(
        (sanitize_attribute(key), _label_value(value))
        for key, value in attributes.items()
        if value != ""
    )


def _label_value(value: AttributeValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _add_exemplars(family: Metric, index: _Index, names: set[str]) -> None:
    if family.type != "histogram":
        return
    # prometheus_client appends the unit to the name upstream gives it, unless already there.
    base = family.name
    if base not in names and family.unit and base.endswith("_" + family.unit):
        base = base[: -len(family.unit) - 1]
    if base not in names:
        return
    bucket_name = family.name + "_bucket"
    by_bucket: dict[float, PrometheusExemplar] | None = None
    for position, sample in enumerate(family.samples):
        if sample.name != bucket_name:
            continue
        if by_bucket is None:  # the first bucket of a series: its labels key all its buckets
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "le" and v != "")
            by_bucket = index.get((base, labels), {})
        le = sample.labels["le"]
        exemplar = by_bucket.get(float(le)) if by_bucket else None
        if exemplar is not None:
            family.samples[position] = sample._replace(exemplar=exemplar)
        if le == "+Inf":  # a series' buckets end with +Inf
            by_bucket = None
