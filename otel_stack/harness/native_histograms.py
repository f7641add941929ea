"""Prometheus native histograms as the live view reads them: cumulative buckets from the query API.

Prometheus' query API returns a native histogram as its count, sum and the
populated buckets, each `[boundary rule, lower, upper, count]`. `cumulative`
turns that into the cumulative `{upper bound: count}` form of a classic
histogram (with `+Inf`), so `histograms.quantile` interpolates inside buckets
about 9% wide (schema 3) instead of a decade. Only populated buckets are
listed, and the sender may lower the resolution as the range grows, so two
readings need not share bounds: `increase` reads the earlier histogram at the
later one's bounds (exact when the earlier resolution is the same or finer, as
the SDK only ever lowers it).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from otel_stack.harness.histograms import Bucket


def cumulative(histogram: Mapping[str, Any]) -> dict[float, float]:
    """Cumulative counts by upper bound (and `+Inf`: the count) of one API histogram object."""
    per_bound: dict[float, float] = {}
    for _rule, lower, upper, count in histogram.get("buckets", ()):
        # A bucket's lower edge is a bound too (with nothing added), so a quantile
        # interpolates inside (lower, upper], not from the previous populated bucket.
        if float(lower) > 0:
            per_bound.setdefault(float(lower), 0.0)
        bound = float(upper)
        per_bound[bound] = per_bound.get(bound, 0.0) + float(count)
    result: dict[float, float] = {}
    running = 0.0
    for bound in sorted(per_bound):
        running += per_bound[bound]
        result[bound] = running
    result[math.inf] = float(histogram["count"])
    return result


def merge(histograms: Sequence[Mapping[float, float]]) -> dict[float, float]:
    """The sum of several cumulative histograms (series of one row), at every bound of any."""
    bounds = sorted({bound for histogram in histograms for bound in histogram})
    return {bound: sum(_at(histogram, bound) for histogram in histograms) for bound in bounds}


def increase(before: Mapping[float, float], after: Mapping[float, float]) -> list[Bucket]:
    """Cumulative buckets of what was observed between two readings (a reset: `after` whole)."""
    if after.get(math.inf, 0.0) < before.get(math.inf, 0.0):
        return sorted(after.items())
    return [(bound, max(0.0, count - _at(before, bound))) for bound, count in sorted(after.items())]


def _at(histogram: Mapping[float, float], bound: float) -> float:
    """The cumulative count of `histogram` at `bound`: at its largest own bound not above it."""
    bounds = sorted(histogram)
    index = bisect.bisect_right(bounds, bound)
    return histogram[bounds[index - 1]] if index else 0.0
