"""Client-side latency quantiles in bounded memory (otel_stack/harness/latency.py)."""

from __future__ import annotations

import pytest

from otel_stack.harness.latency import BOUNDS, LatencyRecorder


def test_quantiles_are_within_two_percent_of_the_exact_values() -> None:
    recorder = LatencyRecorder()
    samples = [index / 1000 for index in range(1, 1001)]  # 1 ms .. 1 s, evenly
    for seconds in samples:
        recorder.record(seconds)
    stats = recorder.stats()
    assert stats.count == 1000
    assert stats.p50 == pytest.approx(0.5, rel=0.02)
    assert stats.p95 == pytest.approx(0.95, rel=0.02)
    assert stats.p99 == pytest.approx(0.99, rel=0.02)
    assert stats.max == 1.0


def test_quantiles_never_exceed_the_maximum() -> None:
    recorder = LatencyRecorder()
    recorder.record(0.0123)
    assert recorder.stats().p99 == pytest.approx(0.0123)
    assert recorder.quantile(1.0) == pytest.approx(0.0123)


def test_no_latencies_give_no_quantiles() -> None:
    stats = LatencyRecorder().stats()
    assert (stats.count, stats.p50, stats.max) == (0, None, None)


def test_memory_is_bounded_by_a_fixed_set_of_buckets() -> None:
    assert len(BOUNDS) < 1000
