"""Arithmetic on Prometheus counters and cumulative histogram buckets.

Pure functions used by the live view and the load generator's summary:
`increase` and `rate` from two readings of a counter (a drop means the counter
was reset, as in PromQL's `increase`), `bucket_increase` for a whole histogram,
`quantile`, which interpolates linearly inside a bucket exactly like
PromQL's `histogram_quantile`, and `quantile_bucket`, the bucket the quantile
lies in (all a histogram with wide buckets really says).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

# One cumulative bucket: (upper bound, number of observations <= bound).
Bucket = tuple[float, float]


def increase(before: float, after: float) -> float:
    """How much a counter grew between two readings; a drop means it restarted from zero."""
    return after - before if after >= before else after


def rate(before: float, after: float, seconds: float) -> float:
    """Per-second increase of a counter over `seconds` (0 for an empty interval)."""
    if seconds <= 0:
        return 0.0
    return increase(before, after) / seconds


def bucket_increase(before: Mapping[float, float], after: Mapping[float, float]) -> list[Bucket]:
    """Cumulative buckets of the observations made between two readings of one histogram.

    Bounds missing from `before` count as zero; if any bucket went down the
    histogram was reset and `after` is returned whole.
    """
    if any(count < before.get(bound, 0.0) for bound, count in after.items()):
        return sorted(after.items())
    return sorted((bound, count - before.get(bound, 0.0)) for bound, count in after.items())


def combine_cumulative(
    sources: Iterable[Mapping[str, Sequence[Bucket]]],
) -> dict[str, list[Bucket]]:
    """Sum cumulative buckets by name and bound (several clients' histograms of the same routes)."""
    totals: dict[str, dict[float, float]] = {}
    for source in sources:
        for name, buckets in source.items():
            merged = totals.setdefault(name, {})
            for bound, count in buckets:
                merged[bound] = merged.get(bound, 0.0) + count
    return {name: sorted(merged.items()) for name, merged in totals.items()}


def quantile(q: float, buckets: Sequence[Bucket]) -> float | None:
    """The q-quantile (0 <= q <= 1) of cumulative buckets, as PromQL's histogram_quantile.

    Returns None when there is nothing to estimate from: no observations, fewer
    than two buckets, or no +Inf bucket. A quantile landing in the +Inf bucket
    is the largest finite bound; the first bucket's lower edge is 0. Inside a
    bucket the value is interpolated linearly, which assumes observations spread
    evenly over it: with wide buckets, `quantile_bucket` says what is known.
    """
    located = _locate(q, buckets)
    if located is None:
        return None
    lower, upper, fraction = located
    if math.isinf(upper):
        return lower
    if upper <= 0:
        return upper
    return lower + (upper - lower) * fraction


def quantile_bucket(q: float, buckets: Sequence[Bucket]) -> tuple[float, float] | None:
    """The (lower, upper] bounds of the bucket holding the q-quantile (None as for `quantile`).

    `upper` is +Inf when the quantile lies beyond the largest finite bound.
    """
    located = _locate(q, buckets)
    return None if located is None else located[:2]


def _locate(q: float, buckets: Sequence[Bucket]) -> tuple[float, float, float] | None:
    """(lower, upper, fraction of the bucket's count below the rank) of the q-quantile."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, got {q}")
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    counts = _monotonic([count for _, count in ordered])
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    # The first bucket that reaches the rank (and holds something, for q = 0).
    index = next(i for i, count in enumerate(counts) if count >= rank and count > 0)
    lower = 0.0 if index == 0 else ordered[index - 1][0]
    below = 0.0 if index == 0 else counts[index - 1]
    return lower, ordered[index][0], (rank - below) / (counts[index] - below)


def _monotonic(counts: list[float]) -> list[float]:
    # Scrapes are not atomic, so a later bucket can read lower than an earlier
    # one; PromQL evens that out the same way.
    fixed: list[float] = []
    for count in counts:
        fixed.append(max(count, fixed[-1]) if fixed else count)
    return fixed
