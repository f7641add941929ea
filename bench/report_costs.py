"""What the telemetry costs per request and end to end: the page's sections 1 to 3."""

from __future__ import annotations

from typing import Any

from bench import report_format
from bench.report_breakdown import (
    cuts,
    largest_pieces,
    tracing_sentence,
    unsampled_paired_sentence,
)
from bench.report_format import f as _f
from bench.report_format import row as _row


def gateway(figures: dict[str, Any]) -> str:
    lines = [
        "## 1. Gateway request path (CPU µs per request)\n",
        report_format.load_note(figures),
        _row("variant", "µs", "overhead"),
        _row("---", "---:", "---:"),
    ]
    for name, value in figures["cpu_us_per_request"].items():
        overhead = figures["overhead_us"].get(name, 0.0)
        lines.append(_row(name, _f(value), _f(overhead)))
    lines.append("")
    lines.append(
        f"The project's own cost beyond the mandated Flask instrumentation: "
        f"**{_f(figures['project_own_metrics_us'])} µs** with metrics "
        f"({_f(figures['own_metrics_vs_prometheus_flask_exporter'], 2)}× "
        f"prometheus-flask-exporter's whole overhead), "
        f"{_f(figures['project_own_full_us'])} µs with tracing too "
        f"({_f(figures['own_full_vs_prometheus_flask_exporter'], 2)}×).\n"
    )
    if "unsampled_over_default_us" in figures:
        lines.append(
            "Traces exported with the `always_off` sampler (`project_unsampled`) cost "
            f"**{_f(figures['unsampled_over_default_us'])} µs** per request over the default "
            "(`project_metrics`) on the Flask side alone (the gRPC client's part is in "
            "section 13).\n"
        )
    if "upstream_unsampled_over_noop_us" in figures:
        lines.append(
            "Upstream's Flask instrumentation alone, no project code, pays about the same: "
            "given the SDK's tracer with the `always_off` sampler instead of a no-op one "
            "(`upstream_flask_unsampled` − `upstream_flask_instrumentation`) it costs "
            f"**{_f(figures['upstream_unsampled_over_noop_us'])} µs** more per request (the "
            "span it starts through the SDK, the context it attaches), so the Flask side of an "
            "unsampled request is upstream's work, not the project's.\n"
        )
    overhead = figures["overhead_us"]
    if "upstream_flask_metrics_dropped" in overhead:
        lines.append(
            "Dropping the upstream instrumentation's metrics with a Drop View leaves "
            f"{_f(overhead['upstream_flask_metrics_dropped'])} µs of its "
            f"{_f(overhead['upstream_flask_instrumentation'])} µs: the SDK still runs the "
            "instrumentation, which is where the cost is. The lean profile "
            f"(contract only) costs {_f(overhead['lean_contract_only'])} µs.\n"
        )
    return "\n".join(lines)


def rpc(server: dict[str, Any] | None, client: dict[str, dict[str, float]] | None) -> str:
    lines = ["## 2. RPC path\n"]
    if server is not None:
        lines += _rpc_server(server)
    if client is not None:
        lines += _rpc_client(client)
    return "\n".join(lines)


def _rpc_server(figures: dict[str, Any]) -> list[str]:
    in_process, loopback = figures["in_process_cpu_us"], figures["loopback_wall_us"]
    return [
        _row("", "bare", "with interceptor", "difference"),
        _row("---", "---:", "---:", "---:"),
        _row(
            "in process, CPU µs",
            _f(in_process["bare"]),
            _f(in_process["interceptor"]),
            _f(in_process["overhead"]),
        ),
        _row(
            "loopback call, wall µs",
            _f(loopback["bare"]),
            _f(loopback["interceptor"]),
            f"{_f(loopback['ratio'], 3)}×",
        ),
        "",
        f"The interceptor's own cost is {_f(in_process['overhead'])} µs per RPC, "
        f"{_f(100 * in_process['overhead'] / loopback['bare'], 1)}% of a bare loopback RPC.\n",
    ]


def _rpc_client(client: dict[str, dict[str, float]]) -> list[str]:
    in_process, loopback = client["in_process_cpu_us"], client["loopback_cpu_us"]
    variants = (
        ("metered", "`MeteredChannel` (the gateway's)"),
        ("interceptor", "`grpc.intercept_channel` + metrics interceptor (before)"),
    )
    lines = [
        "The gateway's side: CPU µs of the calling process per `GetOrder`, in process through "
        "a channel that answers at once (only the wrappers' work), and over loopback to an "
        "order-api process.\n",
        _row("channel", "in process", "overhead", "loopback", "overhead"),
        _row("---", "---:", "---:", "---:", "---:"),
        _row("plain", _f(in_process["plain"]), "0.0", _f(loopback["plain"]), "0.0"),
    ]
    for name, label in variants:
        lines.append(
            _row(
                label,
                _f(in_process[name]),
                _f(in_process[f"{name}_overhead"]),
                _f(loopback[name]),
                _f(loopback[f"{name}_overhead"]),
            )
        )
    lines += [
        "",
        "For the same histogram the metered channel costs "
        f"{_f(in_process['overhead_ratio'], 2)}× the interceptor's overhead in process and "
        f"{_f(loopback['overhead_ratio'], 2)}× over loopback. In process both are mostly the "
        "SDK's histogram record; over loopback `grpc.intercept_channel` also builds the real "
        "channel's multicallable again for every call and calls it through `with_call`.\n",
    ]
    return lines


def end_to_end(figures: dict[str, Any]) -> str:
    ratio, cpu = figures["ratio_to_off"], figures["cpu_us_per_request"]
    lines = [
        "## 3. End to end over real sockets, under the launcher\n",
        report_format.load_note(figures),
        _row(
            "variant",
            "requests/s",
            "ratio to off",
            "p50 ms",
            "p99 ms",
            "gateway CPU µs/req",
            "order-api CPU µs/req",
            "OTLP receiver CPU µs/req",
        ),
        _row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"),
    ]
    for name in figures["variants"]:
        lines.append(
            _row(
                f"`{name}`",
                _f(figures["throughput_rps"][name], 0),
                f"{_f(ratio[name], 2)}×",
                _f(figures["p50_ms"][name], 2),
                _f(figures["p99_ms"][name], 2),
                _f(cpu[name]["web-gateway"], 0),
                _f(cpu[name]["order-api"], 0),
                _f(cpu[name]["otlp-receiver"], 0),
            )
        )
    lines += ["", "Variants:", ""]
    lines += [f"- `{name}`: {text}" for name, text in figures["variants"].items()]
    lines += [
        "",
        "### Where the full profile's overhead goes (CPU µs per request)\n",
        "Each piece is the median over rounds of (variant with it − the same without it), "
        "measured in the same round; pieces overlap a little (span export happens only "
        "for spans the instrumentations start), so they need not add up to the total.\n",
        _row("piece", "gateway", "order-api", "OTLP receiver"),
        _row("---", "---:", "---:", "---:"),
    ]
    for piece, by_service in figures["breakdown_cpu_us"].items():
        lines.append(
            _row(
                piece,
                _f(by_service["web-gateway"], 0),
                _f(by_service["order-api"], 0),
                _f(by_service["otlp-receiver"], 0),
            )
        )
    lines.append("")
    lines.append(tracing_sentence(figures["breakdown_cpu_us"]))
    lines.append(unsampled_paired_sentence(figures.get("unsampled_paired")))
    lines.append(largest_pieces(figures["breakdown_cpu_us"]))
    lines.append(cuts(figures))
    return "\n".join(lines)
