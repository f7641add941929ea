"""Section 13 of the benchmark page: what tracing costs per request in each profile, and where.

Renders `bench.profiles`' figures: CPU µs per gateway request and per order-api
RPC in each profile, the unsampled request's µs over default split by part,
the verdict of the unsampled goal, and the top functions of each profile.
"""

from __future__ import annotations

from typing import Any

from bench.report_format import f as _f
from bench.report_format import load_note
from bench.report_format import row as _row
from bench.report_format import verdict as _verdict

# An unsampled request may cost at most this many CPU µs more than in the default profile.
UNSAMPLED_GOAL_US = 30.0

PROFILE_LABELS = {
    "default": "default (no traces)",
    "unsampled": "traces exported, `always_off`",
    "sampled_10pct": "`parentbased_traceidratio` 0.1",
    "every_trace": "every trace",
    "unsampled_upstream_path": "`always_off`, every call through upstream's gRPC path",
}
_SIDES = (("gateway", "gateway request"), ("rpc", "order-api RPC"))


def _where_unsampled_goes(figures: dict[str, Any]) -> list[str]:
    """The unsampled request's µs over default, split by what the profiler saw them spent on."""
    variants = ("unsampled", "unsampled_upstream_path")
    columns = [(side, name) for side, _ in _SIDES for name in variants]
    groups: list[str] = []
    for side, name in columns:
        for group in figures[side].get("where_over_default_goes_us", {}).get(name, {}):
            if group not in groups:
                groups.append(group)
    if not groups:
        return []
    lines = [
        "Where an unsampled request's µs over default go: the measured difference split in "
        "proportion to the own time each part adds under cProfile (same run):\n",
        _row(
            "part",
            "gateway",
            "gateway, upstream's path",
            "order-api",
            "order-api, upstream's path",
        ),
        _row("---", "---:", "---:", "---:", "---:"),
    ]
    for group in groups:
        cells = [
            figures[side].get("where_over_default_goes_us", {}).get(name, {}).get(group)
            for side, name in columns
        ]
        lines.append(_row(group, *("—" if c is None else f"{c:+,.1f}" for c in cells)))
    totals = [figures[side]["over_default_us"][name] for side, name in columns]
    lines.append(_row("**all of it (measured)**", *(f"**{t:+,.1f}**" for t in totals)))
    lines.append("")
    return lines


def _unsampled_verdict(figures: dict[str, Any]) -> str:
    """The unsampled goal in process, and what the short path changed."""
    over = {side: figures[side]["over_default_us"] for side, _ in _SIDES}
    if "unsampled" not in over["gateway"]:
        return ""
    met = all(over[side]["unsampled"] <= UNSAMPLED_GOAL_US for side in over)
    before = {side: over[side].get("unsampled_upstream_path") for side in over}
    before_text = (
        f" (through upstream's gRPC interceptors on every call: {before['gateway']:+,.1f} µs "
        f"and {before['rpc']:+,.1f} µs)"
        if None not in before.values()
        else ""
    )
    return (
        f"An unsampled request in process: **{over['gateway']['unsampled']:+,.1f} µs** per "
        f"gateway request and **{over['rpc']['unsampled']:+,.1f} µs** per order-api RPC over "
        f"the default{before_text}; goal ≤ {UNSAMPLED_GOAL_US:.0f} µs per service: "
        f"{_verdict(met)}. What the short path leaves is the work any trace context needs, "
        "all of it in the SDK and the mandated instrumentations: the SDK starting each "
        "non-recording span (sampler decision, span id; the Flask server span is started "
        "by upstream's Flask instrumentation on every request, section 1's "
        "`project_unsampled`), W3C extract and inject, context attach and detach, and the "
        "trace-based exemplar filter reading the span at every measurement.\n"
    )


def render(figures: dict[str, Any]) -> str:
    """Section 13 of the page."""
    lines = [
        "## 13. What tracing costs per request, in process\n",
        load_note(figures),
        _row(
            "profile",
            *(f"{label}, CPU µs" for _, label in _SIDES),
            "gateway over default",
            "order-api over default",
        ),
        _row("---", "---:", "---:", "---:", "---:"),
    ]
    for name, label in PROFILE_LABELS.items():
        if name not in figures["gateway"]["cpu_us"]:
            continue
        over = [figures[side]["over_default_us"].get(name) for side, _ in _SIDES]
        lines.append(
            _row(
                label,
                *(_f(figures[side]["cpu_us"][name]) for side, _ in _SIDES),
                *("—" if value is None else f"{value:+,.1f}" for value in over),
            )
        )
    lines += ["", "Over default: medians of per-round differences (same round, interleaved).\n"]
    lines += _where_unsampled_goes(figures)
    lines.append(_unsampled_verdict(figures))
    for side, label in _SIDES:
        for name, rows in figures[side]["top_functions"].items():
            lines += [
                f"Top functions of one {label}, {PROFILE_LABELS.get(name, name)} "
                "(cProfile, own time per call, thread CPU):\n",
                _row("function", "calls", "own µs", "cumulative µs"),
                _row("---", "---:", "---:", "---:"),
            ]
            lines += [
                _row(
                    f"`{row['function']}`",
                    _f(row["calls_per_request"], 1),
                    _f(row["tottime_us"], 1),
                    _f(row["cumtime_us"], 1),
                )
                for row in rows
            ]
            lines.append("")
    return "\n".join(lines)
