"""Client-side latency bookkeeping in bounded memory, for the load generator's summary.

Latencies are counted in logarithmic buckets about 2% wide (10 µs to 10 min),
so a day-long run needs the same few kilobytes as a second-long one;
quantiles interpolate inside a bucket as `histograms.quantile` does, and the
maximum is kept exactly. `cumulative` gives the buckets in a histogram's form,
so two snapshots give the latencies of the interval between them.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from otel_stack.harness.histograms import Bucket, quantile

SMALLEST_SECONDS = 1e-5
LARGEST_SECONDS = 600.0
GROWTH = 1.02


def _bounds() -> tuple[float, ...]:
    steps = math.ceil(math.log(LARGEST_SECONDS / SMALLEST_SECONDS) / math.log(GROWTH))
    return (*(SMALLEST_SECONDS * GROWTH**step for step in range(steps + 1)), math.inf)


BOUNDS = _bounds()


@dataclass(frozen=True)
class LatencyStats:
    """Quantiles and maximum of a set of latencies, in seconds (None when there are none)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class LatencyRecorder:
    """Counts latencies into fixed logarithmic buckets; not thread-safe (callers lock)."""

    def __init__(self) -> None:
        self._counts = [0] * len(BOUNDS)
        self._count = 0
        self._max = 0.0

    def record(self, seconds: float) -> None:
        """Add one latency."""
        self._counts[bisect.bisect_left(BOUNDS, seconds)] += 1
        self._count += 1
        self._max = max(self._max, seconds)

    def cumulative(self) -> list[Bucket]:
        """Everything recorded as cumulative buckets, like a Prometheus histogram's."""
        buckets: list[Bucket] = []
        running = 0
        for bound, count in zip(BOUNDS, self._counts, strict=True):
            running += count
            buckets.append((bound, float(running)))
        return buckets

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) of everything recorded, never above the maximum."""
        value = quantile(q, self.cumulative())
        return None if value is None else min(value, self._max)

    def stats(self) -> LatencyStats:
        """p50/p95/p99 and maximum."""
        if not self._count:
            return LatencyStats(0, None, None, None, None)
        return LatencyStats(
            self._count, self.quantile(0.5), self.quantile(0.95), self.quantile(0.99), self._max
        )
