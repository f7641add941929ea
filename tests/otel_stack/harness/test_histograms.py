"""Quantiles from cumulative buckets and rates from counter readings (histograms.py)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from otel_stack.harness.histograms import bucket_increase, increase, quantile, quantile_bucket, rate
from tests.support.prometheus import promtool

INF = math.inf
# 10 observations <= 0.1, 20 in (0.1, 0.5], 10 in (0.5, 1], none above.
BUCKETS = [(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (INF, 40.0)]


def test_median_interpolates_linearly_inside_its_bucket() -> None:
    # rank 20 is the 10th of 20 observations in (0.1, 0.5]: halfway.
    assert quantile(0.5, BUCKETS) == pytest.approx(0.3)


def test_quantile_bucket_is_the_bucket_the_quantile_lies_in() -> None:
    assert quantile_bucket(0.2, BUCKETS) == (0.0, 0.1)
    assert quantile_bucket(0.5, BUCKETS) == (0.1, 0.5)
    assert quantile_bucket(0.99, BUCKETS) == (0.5, 1.0)
    assert quantile_bucket(0.5, [(0.1, 0.0), (INF, 4.0)]) == (0.1, INF)
    assert quantile_bucket(0.5, [(INF, 0.0)]) is None


def test_high_quantile_lands_in_the_last_finite_bucket() -> None:
    # rank 39.6 is 9.6 of 10 into (0.5, 1].
    assert quantile(0.99, BUCKETS) == pytest.approx(0.98)


def test_first_bucket_starts_at_zero() -> None:
    assert quantile(0.25, [(1.0, 8.0), (INF, 8.0)]) == pytest.approx(0.25)


def test_quantile_in_the_inf_bucket_is_the_largest_finite_bound() -> None:
    assert quantile(0.9, [(0.1, 1.0), (0.5, 2.0), (INF, 10.0)]) == 0.5


def test_bucket_order_does_not_matter() -> None:
    assert quantile(0.5, list(reversed(BUCKETS))) == pytest.approx(0.3)


def test_zero_quantile_is_the_lower_edge_of_the_first_non_empty_bucket() -> None:
    assert quantile(0.0, [(0.1, 0.0), (0.5, 4.0), (INF, 4.0)]) == pytest.approx(0.1)


def test_quantile_matches_the_contract_buckets() -> None:
    bounds = [0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, INF]
    counts = [0.0, 50.0, 90.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    buckets = list(zip(bounds, counts, strict=True))
    assert quantile(0.5, buckets) == pytest.approx(0.001 + 0.009 * 50 / 50)
    assert quantile(0.95, buckets) == pytest.approx(0.1 + 0.4 * 5 / 10)


def test_non_monotonic_buckets_are_evened_out_like_promql() -> None:
    # A torn scrape: the 0.5 bucket reads lower than the 0.1 bucket.
    assert quantile(0.5, [(0.1, 10.0), (0.5, 8.0), (INF, 20.0)]) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "buckets",
    [[], [(INF, 5.0)], [(0.1, 5.0), (1.0, 5.0)], [(0.1, 0.0), (INF, 0.0)]],
    ids=["no buckets", "only +Inf", "no +Inf", "no observations"],
)
def test_quantile_is_none_when_nothing_can_be_estimated(buckets: list[tuple[float, float]]) -> None:
    assert quantile(0.5, buckets) is None


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_quantile_outside_zero_to_one_is_rejected(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile(q, BUCKETS)


def test_bucket_increase_subtracts_bound_by_bound() -> None:
    before = {0.1: 10.0, 0.5: 30.0, INF: 40.0}
    after = {0.1: 12.0, 0.5: 35.0, INF: 50.0}
    assert bucket_increase(before, after) == [(0.1, 2.0), (0.5, 5.0), (INF, 10.0)]


def test_bucket_increase_of_a_new_series_is_the_series() -> None:
    after = {0.1: 1.0, INF: 3.0}
    assert bucket_increase({}, after) == [(0.1, 1.0), (INF, 3.0)]


def test_bucket_increase_after_a_restart_is_the_new_histogram() -> None:
    before = {0.1: 10.0, INF: 40.0}
    after = {0.1: 1.0, INF: 2.0}
    assert bucket_increase(before, after) == [(0.1, 1.0), (INF, 2.0)]


def test_quantile_of_an_interval_ignores_earlier_observations() -> None:
    before = {0.1: 100.0, 0.5: 100.0, INF: 100.0}
    after = {0.1: 100.0, 0.5: 110.0, INF: 110.0}
    assert quantile(0.5, bucket_increase(before, after)) == pytest.approx(0.3)


def test_increase_is_the_difference_of_two_readings() -> None:
    assert increase(10.0, 25.0) == 15.0


def test_increase_after_a_counter_reset_is_the_new_value() -> None:
    assert increase(100.0, 7.0) == 7.0


def test_rate_is_increase_per_second() -> None:
    assert rate(10.0, 30.0, 4.0) == 5.0


def test_rate_of_an_empty_interval_is_zero() -> None:
    assert rate(10.0, 30.0, 0.0) == 0.0


@pytest.mark.prometheus
def test_quantile_agrees_with_prometheus_histogram_quantile(tmp_path: Path) -> None:
    """Random histograms: promtool evaluates histogram_quantile and expects our values."""
    rng = random.Random(42)
    bounds = ["0.001", "0.01", "0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"]
    input_series, expressions = [], []
    for case in range(20):
        running, buckets = 0, []
        for bound in bounds:
            running += rng.choice([0, 0, 1, 3, 17]) if bound != "+Inf" else rng.choice([0, 1])
            buckets.append((float(bound), float(running)))
            input_series.append(
                {"series": f'h_bucket{{case="{case}",le="{bound}"}}', "values": str(running)}
            )
        for q in (0.5, 0.95, 0.99):
            expected = quantile(q, buckets)
            if expected is None:
                continue
            expressions.append(
                {
                    "expr": f'histogram_quantile({q}, h_bucket{{case="{case}"}})',
                    "eval_time": "0m",
                    "exp_samples": [{"labels": f'{{case="{case}"}}', "value": expected}],
                }
            )
    tests = {
        "tests": [{"interval": "1m", "input_series": input_series, "promql_expr_test": expressions}]
    }
    path = tmp_path / "quantiles_test.yml"
    path.write_text(json.dumps(tests))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
