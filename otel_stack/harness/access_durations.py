"""Exact latency quantiles from the order-api's access lines: the ground truth for histograms.

Each RPC's access line carries `duration_ms`, the very value the RPC duration
histograms recorded (rounded to the microsecond), so the quantiles of those
values are what a histogram's quantile estimates. `rpc_durations` reads them
from a log by method; `exact_quantile` is the nearest-rank quantile (the value
a fraction `q` of the observations are at or below), which `histogram_quantile`
approximates; `relative_error` compares an estimate with it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

ACCESS_LOGGER = "access"


def rpc_durations(lines: Iterable[str]) -> dict[str, list[float]]:
    """Seconds of every RPC access line, by method (`GetOrder`); other lines are skipped."""
    by_method: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        if '"logger":"access"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        method = record.get("rpc.method")
        if record.get("logger") == ACCESS_LOGGER and method and "duration_ms" in record:
            by_method[method].append(float(record["duration_ms"]) / 1000.0)
    return dict(by_method)


def exact_quantile(q: float, values: Sequence[float]) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of `values` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def relative_error(estimate: float, exact: float) -> float:
    """|estimate - exact| / exact."""
    return abs(estimate - exact) / exact
