"""Sections 13 and 14 of the benchmark page: what tracing costs per request, and per span.

Section 13 renders `bench.profiles`' figures: CPU µs per gateway request and per
order-api RPC in each profile, the unsampled request's µs over default split by
part, the verdict of the unsampled goal beside the floor upstream leaves (what an
unsampled gateway request must do with none of the project's tracing code), and
the top functions of each profile.
Section 14 renders `bench.span_export`'s: CPU µs per exported span by protocol,
compression and batch size, beside what recording a span costs (from section 13).
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
    "flask_sdk_tracer": "default, upstream's Flask instrumentation given the SDK's tracer "
    "(`always_off`)",
    "unsampled_floor": "the floor: upstream's parts of an unsampled call alone (gateway: Flask "
    "span, `propagate.inject`; order-api: `propagate.extract`, attach; both: exemplar filter, "
    "access line ids)",
}
_SIDES = (("gateway", "gateway request"), ("rpc", "order-api RPC"))
# Spans one call records with every trace: the gateway's Flask server and gRPC client
# spans, the order-api's gRPC server span.
SPANS_PER_CALL = {"gateway": 2, "rpc": 1}
EXPORT_LABELS = {
    "encode": "protobuf encoding alone (every variant's first step)",
    "grpc": "OTLP/gRPC, batches of 512 (the SDK's default protocol and batch)",
    "grpc_gzip": "OTLP/gRPC with gzip",
    "grpc_batch_64": "OTLP/gRPC, batches of 64",
    "http": "OTLP/HTTP (protobuf), batches of 512",
    "http_gzip": "OTLP/HTTP with gzip",
}


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
        "all of it in the SDK and the mandated instrumentations: the one non-recording span "
        "of an unsampled request, which upstream's Flask instrumentation starts through the "
        "SDK on every request (sampler decision, ids; section 1's `project_unsampled`: the "
        "gRPC hop starts none, its context goes on), W3C extract and inject, context attach "
        "and detach, and the trace-based exemplar filter reading the span at every "
        f"measurement.{_floor_note(over, figures['gateway']['cpu_us']['default'])}\n"
    )


def _over_default(side: dict[str, Any], name: str) -> str:
    """A variant's µs over default, with the range over processes when there are several."""
    value = side["over_default_us"].get(name)
    if value is None:
        return "—"
    low, high = side.get("over_default_range_us", {}).get(name, (value, value))
    spread = f" ({low:+,.1f} … {high:+,.1f})" if high > low else ""
    return f"{value:+,.1f}{spread}"


def _method_note(figures: dict[str, Any]) -> str:
    processes = figures.get("processes", 1)
    if processes == 1:
        return "Over default: medians of per-round differences (same round, interleaved).\n"
    return (
        f"Each figure is the median over {processes} fresh processes run one after another; "
        "over default, each process's median of per-round differences (same round, "
        "interleaved), the range over the processes in brackets.\n"
    )


def _floor_note(over: dict[str, dict[str, float]], default_us: float) -> str:
    """What the floor variants say of the unsampled goal."""
    gateway, rpc = over["gateway"], over["rpc"]
    if "unsampled_floor" not in gateway:
        return ""
    floor, flask = gateway["unsampled_floor"], gateway["flask_sdk_tracer"]
    reach = (
        "above the goal before any of the project's code: with upstream as it is, the goal "
        "is out of reach at the gateway, and a figure of the project's path at or under it "
        "is the spread between processes, not headroom"
        if floor > UNSAMPLED_GOAL_US
        else "within the goal"
    )
    return (
        f" The floor at the gateway, what an unsampled request must do for what users see "
        f"with none of the project's tracing code, is **{floor:+,.1f} µs**, "
        f"{floor / default_us:.0%} of a default request ({reach}); "
        f"{flask:+,.1f} µs of it is upstream's Flask instrumentation given the SDK's tracer "
        "instead of a no-op one, the rest the trace-based exemplar filter, the access line's "
        f"ids and upstream's `propagate.inject`. The project's path measured "
        f"{gateway['unsampled'] - floor:+,.1f} µs against that floor.{_rpc_floor(rpc)}"
    )


def _rpc_floor(rpc: dict[str, float]) -> str:
    if "unsampled_floor" not in rpc:
        return ""
    floor = rpc["unsampled_floor"]
    return (
        f" The order-api's floor (upstream's `propagate.extract` of the caller's context made "
        f"current around the handler, the exemplar filter, the access line's ids) is "
        f"**{floor:+,.1f} µs** per RPC; the project's path measured "
        f"{rpc['unsampled'] - floor:+,.1f} µs against it."
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
        cpu = [figures[side]["cpu_us"].get(name) for side, _ in _SIDES]
        lines.append(
            _row(
                label,
                *("—" if value is None else _f(value) for value in cpu),
                *(_over_default(figures[side], name) for side, _ in _SIDES),
            )
        )
    lines += ["", _method_note(figures)]
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


def recording_us_per_span(profiles: dict[str, Any]) -> dict[str, float]:
    """CPU µs to record one span, in process: (every trace − unsampled) over spans per call."""
    return {
        side: (
            profiles[side]["over_default_us"]["every_trace"]
            - profiles[side]["over_default_us"]["unsampled"]
        )
        / SPANS_PER_CALL[side]
        for side, _ in _SIDES
        if "every_trace" in profiles.get(side, {}).get("over_default_us", {})
    }


def render_span_export(figures: dict[str, Any], profiles: dict[str, Any] | None) -> str:
    """Section 14 of the page."""
    per_span = {side: figures[side]["cpu_us_per_span"] for side, _ in _SIDES}
    lines = [
        "## 14. What exporting a recorded span costs\n",
        load_note(figures),
        _row("export", "gateway span, CPU µs", "order-api span, CPU µs"),
        _row("---", "---:", "---:"),
    ]
    for name, label in EXPORT_LABELS.items():
        lines.append(_row(label, *(_f(per_span[side][name], 1) for side, _ in _SIDES)))
    sizes = [
        f"{figures[side]['attributes_per_span']:.0f} attributes and "
        f"{figures[side]['encoded_bytes_per_span']:.0f} encoded bytes per {label.split()[0]} span"
        for side, label in _SIDES
    ]
    spread = {
        side: max(per_span[side][n] for n in EXPORT_LABELS if n != "encode")
        / min(per_span[side][n] for n in EXPORT_LABELS if n != "encode")
        for side, _ in _SIDES
    }
    share = {side: per_span[side]["encode"] / per_span[side]["grpc"] for side, _ in _SIDES}
    lines += [
        "",
        f"Spans of {sizes[0]}; {sizes[1]}. With the SDK's default (OTLP/gRPC, batches of "
        f"{figures['batch']}) an exported span costs {_f(per_span['gateway']['grpc'], 1)} µs "
        f"(gateway) and {_f(per_span['rpc']['grpc'], 1)} µs (order-api), of which the protobuf "
        f"encoding in upstream's exporter is {share['gateway']:.0%} and {share['rpc']:.0%}: "
        "the protocol, gzip and the batch size move the cost by at most "
        f"{max(spread.values()) - 1:.0%} between the cheapest and the dearest variant.",
    ]
    recording = recording_us_per_span(profiles or {})
    if recording:
        lines.append(
            f"Recording a span costs more than exporting it: {_f(recording['gateway'], 1)} µs "
            f"per gateway span and {_f(recording['rpc'], 1)} µs per order-api span in process "
            "(section 13, every trace − unsampled, over the spans of one call; the order-api's "
            "includes upstream's gRPC server interceptor, which the sampled calls go through)."
        )
    lines.append("")
    return "\n".join(lines)
