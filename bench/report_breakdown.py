"""Where the end-to-end cost goes: tracing's pieces, the cuts made, what holds a missed goal."""

from __future__ import annotations

from typing import Any

from bench.report_format import f as _f
from bench.report_format import row as _row

# The project's goals: (variant, label, lowest throughput ratio to telemetry off).
END_TO_END_GOALS = (
    ("lean", "lean", 0.90),
    ("default", "default (metrics)", 0.80),
    ("sampled_10pct", "default + 10% of traces", 0.72),
    ("full", "default + every trace", 0.60),
)
UNSAMPLED_PIECE = "traces exported, no span sampled (over default)"


# Spans each request records with every trace: Flask server + gRPC client; gRPC server.
SPANS_PER_REQUEST = {"web-gateway": 2, "order-api": 1}


# For a missed end-to-end goal: the same run's variants that each leave one piece out.
WITHOUT_ONE_PIECE = {
    "lean": (("lean_no_access_log", "without the project's access lines"),),
    "default": (("lean", "without the upstream Flask instrumentation (the lean profile)"),),
    "sampled_10pct": (
        ("default", "without tracing (the default)"),
        ("traced_unsampled", "every span started, none recorded (always_off sampler)"),
    ),
    "full": (
        ("full_no_flask", "without the upstream Flask instrumentation"),
        ("full_no_grpc", "without the upstream gRPC instrumentation"),
        ("traced_unsampled", "with spans started but never recorded or exported"),
    ),
}


def tracing_sentence(breakdown: dict[str, dict[str, float]]) -> str:
    """What a request a sampler drops costs, and what each recorded span costs."""
    unsampled, spans = breakdown.get(UNSAMPLED_PIECE), breakdown.get("span recording and export")
    if unsampled is None or spans is None:
        return ""
    per_span = {s: spans[s] / n for s, n in SPANS_PER_REQUEST.items()}
    return (
        "Tracing, split: a request whose spans are not sampled costs "
        f"**{unsampled['web-gateway']:+,.0f} µs** on the gateway and "
        f"**{unsampled['order-api']:+,.0f} µs** per RPC on the order-api over the default "
        "(`traced_unsampled` − `default`); each recorded span then costs about "
        f"{_f(per_span['web-gateway'], 0)} µs on the gateway (2 spans per request: Flask server, "
        f"gRPC client) and {_f(per_span['order-api'], 0)} µs on the order-api (1 per RPC), "
        "recording and export together (`full` − `traced_unsampled`).\n"
    )


def largest_pieces(breakdown: dict[str, dict[str, float]]) -> str:
    """One sentence per service naming the piece of the full profile that costs it most."""
    total_key = "full profile, all of it"
    sentences = []
    for service in ("web-gateway", "order-api"):
        pieces = {name: by[service] for name, by in breakdown.items() if name != total_key}
        largest = max(pieces, key=lambda name: pieces[name])
        sentences.append(
            f"On the {service}, the largest piece is **{largest}** "
            f"({_f(pieces[largest], 0)} µs of the full profile's "
            f"{_f(breakdown[total_key][service], 0)} µs per request)."
        )
    return " ".join(sentences) + "\n"


def cuts(figures: dict[str, Any]) -> str:
    rps, cpu = figures["throughput_rps"], figures["cpu_us_per_request"]
    lines = [
        "### Cuts tried end to end\n",
        _row("change", "compared with", "requests/s ratio", "gateway CPU µs/req change"),
        _row("---", "---", "---:", "---:"),
    ]
    for variant, reference in (
        ("default_8_threads", "default"),
        ("off_8_threads", "off"),
        ("full_big_batches", "full"),
        ("lean", "default"),
        ("lean_no_access_log", "lean"),
        ("sampled_10pct", "full"),
    ):
        if variant not in rps:
            continue
        change = cpu[variant]["web-gateway"] - cpu[reference]["web-gateway"]
        lines.append(
            _row(
                f"`{variant}`",
                f"`{reference}`",
                f"{_f(rps[variant] / rps[reference], 2)}×",
                f"{change:+,.0f}",
            )
        )
    lines.append("")
    lines.append(_what_holds_missed_goals(figures["ratio_to_off"]))
    return "\n".join(lines)


def _what_holds_missed_goals(ratio: dict[str, float]) -> str:
    """For each missed end-to-end goal, the ratio the same run reads with one piece left out."""
    missed = [(v, label, goal) for v, label, goal in END_TO_END_GOALS if ratio[v] < goal]
    if not missed:
        return ""
    lines = [
        "### What holds the missed goals\n",
        "Each missed goal's variant against variants of the same run that leave one piece "
        "out (ratios to telemetry off):\n",
    ]
    for variant, label, goal in missed:
        without = [
            f"{description}: {_f(ratio[other], 2)}×"
            for other, description in WITHOUT_ONE_PIECE.get(variant, ())
            if other in ratio
        ]
        lines.append(
            f"- {label} reads {_f(ratio[variant], 2)}× (goal {goal:.2f}×); " + "; ".join(without)
        )
    lines.extend(_over_the_default(ratio, missed))
    lines.append("")
    return "\n".join(lines)


def _over_the_default(ratio: dict[str, float], missed: list[tuple[str, str, float]]) -> list[str]:
    """Whether a missed tracing goal is the default's shortfall carried, or tracing's own.

    The goals' spacing is what they leave tracing over the default (0.72 over 0.80).
    """
    goals = {variant: goal for variant, _, goal in END_TO_END_GOALS}
    if not any(variant == "default" for variant, _, _ in missed):
        return []
    lines = []
    for variant, label, goal in missed:
        if variant not in ("sampled_10pct", "full"):
            continue
        kept, asked = ratio[variant] / ratio["default"], goal / goals["default"]
        verdict = (
            "tracing's own cost is within what the goals leave it; the miss is the default's"
            if kept >= asked
            else "tracing costs more than the goals leave it, beyond the default's shortfall"
        )
        lines.append(
            f"- over the default of this run, {label} keeps {_f(kept, 3)}× of its throughput "
            f"where the goals ask {_f(asked, 3)}× ({goal:.2f}× over {goals['default']:.2f}×): "
            f"{verdict}"
        )
    return lines


def unsampled_paired_sentence(paired: dict[str, Any] | None) -> str:
    """The unsampled request's cost from the paired rounds, and its floor when they have it."""
    if not paired:
        return ""
    services = (("web-gateway", "per gateway request"), ("order-api", "per RPC"))
    parts = [_spread(paired[service], label) for service, label in services]
    variants = "`default` and `traced_unsampled`"
    if "floor" in paired:
        variants = "`default`, `traced_unsampled` and `unsampled_floor`"
    sentence = (
        f"An unsampled request, resolved: {paired['rounds']} more rounds of {variants} alone, "
        "in adjacent windows (the order rotating), put its cost over the default at "
        f"{parts[0]} and {parts[1]}: medians of the per-round differences, the goal's figure "
        "end to end."
    )
    if "floor" in paired:
        floor = [_spread(paired["floor"][service], label) for service, label in services]
        over = [
            f"{paired['over_floor'][service]['median_us']:+,.0f} µs (standard error "
            f"{_f(paired['over_floor'][service]['standard_error_us'], 0)} µs)"
            for service, _ in services
        ]
        sentence += (
            " Its floor end to end, `unsampled_floor` (the same processes with the project's "
            "gRPC tracing replaced by suite 13's floor: the gateway only injects the context, "
            "the order-api only extracts it and makes it current), costs "
            f"{floor[0]} and {floor[1]} over the default; the project's path costs "
            f"{over[0]} and {over[1]} over the floor."
        )
    return sentence + "\n"


def _spread(difference: dict[str, Any], label: str) -> str:
    return (
        f"**{difference['median_us']:+,.0f} µs** {label} (per-round standard deviation "
        f"{_f(difference['stdev_us'], 0)} µs, standard error "
        f"{_f(difference['standard_error_us'], 0)} µs)"
    )
