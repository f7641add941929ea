"""Interleaved measurement: every variant runs in every round, so machine drift hits all alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

CPU = time.process_time  # process CPU time, all threads (span export threads count too)
WALL = time.perf_counter


@dataclass(frozen=True)
class Result:
    """Per-call costs of one variant, one value per round."""

    name: str
    per_call_us: list[float]

    @property
    def median_us(self) -> float:
        """The median over rounds of the mean per-call cost."""
        return statistics.median(self.per_call_us)


def per_call(
    variants: Mapping[str, Callable[[], object]],
    *,
    calls: int,
    rounds: int,
    clock: Callable[[], float] = CPU,
    warmup: int = 200,
    end_of_round: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, Result]:
    """µs per call of each variant by `clock`, the variants taking turns round by round.

    `end_of_round[name]`, when given, runs inside that variant's measured window after
    its calls (e.g. flushing a span processor so its export cost is counted there).
    """
    finish = end_of_round or {}
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_number in range(rounds):
        # Rotate the order so no variant always runs first (caches, frequency scaling).
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            fn = variants[name]
            started = clock()
            for _ in range(calls):
                fn()
            if name in finish:
                finish[name]()
            samples[name].append((clock() - started) / calls * 1e6)
    return {name: Result(name, values) for name, values in samples.items()}


def paired_difference_us(results: Mapping[str, Result], minuend: str, subtrahend: str) -> float:
    """The median over rounds of (minuend − subtrahend): drift between rounds cancels out."""
    pairs = zip(results[minuend].per_call_us, results[subtrahend].per_call_us, strict=True)
    return statistics.median(a - b for a, b in pairs)
