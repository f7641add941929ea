"""`otel_stack.harness.native_histograms`: native histograms as cumulative buckets."""

from __future__ import annotations

import math

import pytest

from otel_stack.harness.histograms import quantile
from otel_stack.harness.native_histograms import cumulative, increase, merge


def _api_histogram(count: int, buckets: list[tuple[float, float, int]]) -> dict[str, object]:
    """A histogram object as Prometheus' query API returns it (strings, boundary rule 0)."""
    return {
        "count": str(count),
        "sum": "0",
        "buckets": [[0, str(low), str(high), str(n)] for low, high, n in buckets],
    }


def test_cumulative_adds_up_the_populated_buckets_and_ends_at_the_count() -> None:
    histogram = _api_histogram(6, [(0.001, 0.0011, 1), (0.002, 0.0022, 3), (0.004, 0.0044, 2)])
    assert cumulative(histogram) == {
        0.001: 0.0,
        0.0011: 1.0,
        0.002: 1.0,
        0.0022: 4.0,
        0.004: 4.0,
        0.0044: 6.0,
        math.inf: 6.0,
    }


def test_increase_reads_the_earlier_histogram_at_the_later_bounds() -> None:
    # A bucket populated only later: the earlier count at its bound is that of the bound below.
    before = {0.0011: 1.0, 0.0044: 3.0, math.inf: 3.0}
    after = {0.0011: 1.0, 0.0022: 4.0, 0.0044: 6.0, math.inf: 6.0}
    assert increase(before, after) == [(0.0011, 0.0), (0.0022, 3.0), (0.0044, 3.0), (math.inf, 3.0)]


def test_increase_after_a_reset_is_the_later_histogram() -> None:
    before = {0.01: 10.0, math.inf: 10.0}
    after = {0.01: 2.0, math.inf: 2.0}
    assert increase(before, after) == [(0.01, 2.0), (math.inf, 2.0)]


def test_merge_sums_series_at_every_bound_of_any() -> None:
    merged = merge([{0.1: 1.0, math.inf: 2.0}, {0.2: 3.0, math.inf: 3.0}])
    assert merged == {0.1: 1.0, 0.2: 4.0, math.inf: 5.0}


def test_quantiles_interpolate_inside_narrow_buckets() -> None:
    # 100 observations spread over one bucket (7 ms, 7.6 ms]: the median is inside it.
    buckets = increase({}, cumulative(_api_histogram(100, [(0.007, 0.0076, 100)])))
    assert quantile(0.5, buckets) == pytest.approx(0.0073)
