"""Where the µs go: a call profiled with cProfile, its top functions, its shares by part.

Used by suite 13 (`bench.profiles`): each variant is profiled once more after it
is timed, and the profiled times are scaled to the measured CPU µs (the profiler
inflates them), so they are read as shares of a measured figure.
"""

from __future__ import annotations

import cProfile
import pstats
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOP_FUNCTIONS = 12

# Where the µs of an unsampled request go: each profiled function's own time, by the
# first of these path fragments it contains (the rest is "everything else").
GROUPS = (
    ("otel/grpc_tracing.py", "the project's short path (otel/grpc_tracing.py)"),
    ("instrumentation/grpc/", "upstream gRPC instrumentation (its own code)"),
    ("sdk/trace/", "SDK tracer: span start, sampler decision, span ids"),
    ("propagat", "W3C trace context and baggage: extract / inject"),
    ("exemplar", "exemplar filter (trace_based instead of always_off)"),
    ("opentelemetry/context/", "context: attach, detach, current span"),
    ("opentelemetry/trace/", "context: attach, detach, current span"),
    ("access_log.py", "access line (the span's ids)"),
)
OTHER = "everything else: the measured difference minus the parts above (builtins they call, noise)"
# function -> (calls, own seconds, cumulative seconds), per request
_Stats = dict[str, tuple[float, float, float]]


def profile_of(fn: Callable[[], object], calls: int) -> _Stats:
    """cProfile over `calls` calls, per call, timed by this thread's CPU time."""
    # Thread CPU time, not wall time: other processes taking the CPU do not count.
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for _ in range(calls):
        fn()
    profile.disable()
    entries = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {
        f"{_short(path)}:{line}({name})": (ncalls / calls, tottime / calls, cumtime / calls)
        for (path, line, name), (_cc, ncalls, tottime, cumtime, _callers) in entries.items()
    }


def top_functions(stats: _Stats, scale: float) -> list[dict[str, Any]]:
    """The functions with the most own time; times scaled by `scale` (profiled → measured)."""
    ranked = sorted(stats.items(), key=lambda item: item[1][1], reverse=True)[:TOP_FUNCTIONS]
    return [
        {
            "function": function,
            "calls_per_request": calls,
            "tottime_us": own * 1e6 * scale,
            "cumtime_us": cumulative * 1e6 * scale,
        }
        for function, (calls, own, cumulative) in ranked
    ]


def grouped_difference(
    variant: _Stats, default: _Stats, scale: float, measured_us: float
) -> dict[str, float]:
    """Own time each group adds over the default (scaled); the rest of `measured_us` as OTHER."""
    added: dict[str, float] = {}
    for function in variant.keys() | default.keys():
        group = next((label for fragment, label in GROUPS if fragment in function), None)
        if group is None:
            continue
        own = variant.get(function, (0, 0.0, 0.0))[1] - default.get(function, (0, 0.0, 0.0))[1]
        added[group] = added.get(group, 0.0) + own * 1e6 * scale
    added[OTHER] = measured_us - sum(added.values())
    return added


def _short(path: str) -> str:
    """A profiled file's path from its package (site-packages, the repository, the stdlib)."""
    for marker in ("site-packages/", f"{ROOT}/", f"{sysconfig.get_paths()['stdlib']}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
