"""Render bench results as docs/benchmarks.md: the method, the figures and each goal's verdict."""

from __future__ import annotations

from typing import Any

from bench import report_profiles
from bench.report_breakdown import END_TO_END_GOALS, UNSAMPLED_PIECE
from bench.report_costs import end_to_end, gateway, rpc
from bench.report_format import f as _f
from bench.report_format import row as _row
from bench.report_format import verdict as _verdict
from bench.report_method import METHOD
from bench.report_profiles import UNSAMPLED_GOAL_US
from bench.report_resources import memory, otlp, scrape, servers, tls
from bench.report_scale import native_table, scaling, signals, throughput_vs_cheroot, workers


def render(results: dict[str, Any]) -> str:
    """Return the Markdown page for one run's results."""
    parts = [METHOD, f"Last run: {_machine(results)}.\n"]
    if "gateway" in results:
        parts.append(gateway(results["gateway"]))
    if "rpc" in results or "rpc_client" in results:
        parts.append(rpc(results.get("rpc"), results.get("rpc_client")))
    if "end_to_end" in results:
        parts.append(end_to_end(results["end_to_end"]))
    if "scrape" in results:
        parts.append(scrape(results["scrape"], results.get("end_to_end")))
    if "end_to_end" in results:
        parts.append(memory(results["end_to_end"]["memory"]))
    if "otlp" in results:
        parts.append(otlp(results["otlp"]))
    if "servers" in results:
        parts.append(servers(results["servers"]))
    if "scaling" in results:
        parts.append(scaling(results["scaling"]))
    if "signals" in results:
        parts.append(signals(results["signals"]))
    if "workers" in results:
        parts.append(workers(results["workers"], results["machine"]["cpus"]))
    if "native" in results:
        parts.append(native_table(results["native"], heading="## 11. Native histograms"))
    if "tls" in results:
        parts.append(tls(results["tls"]))
    if "profiles" in results:
        parts.append(report_profiles.render(results["profiles"]))
    if "span_export" in results:
        parts.append(
            report_profiles.render_span_export(results["span_export"], results.get("profiles"))
        )
    parts.append(_goals(results))
    return "\n".join(parts)


def _machine(results: dict[str, Any]) -> str:
    line = _run(results["machine"], results["seconds"])
    rerun = results.get("rerun")
    if rerun is None:
        return line
    suites = ", ".join(f"`{suite}`" for suite in rerun["suites"])
    return f"{line}; re-run alone since: {suites} ({_run(rerun['machine'], rerun['seconds'])})"


def run_line(machine: dict[str, Any], seconds: float) -> str:
    """How a run was made: Python, CPUs, mode and its duration."""
    return _run(machine, seconds)


def _run(machine: dict[str, Any], seconds: float) -> str:
    mode = "quick" if machine["quick"] else "full"
    return f"Python {machine['python']}, {machine['cpus']} CPUs, {mode} mode, {seconds} s"


def _goals(results: dict[str, Any]) -> str:
    lines = ["## Goals\n", _row("goal", "this run", "verdict"), _row("---", "---", "---")]
    if "gateway" in results:
        ratio = results["gateway"]["own_metrics_vs_prometheus_flask_exporter"]
        lines.append(
            _row(
                "gateway: own cost ≤ 0.5× prometheus-flask-exporter's",
                f"{_f(ratio, 2)}×",
                _verdict(ratio <= 0.5),
            )
        )
    if "rpc" in results:
        overhead = results["rpc"]["in_process_cpu_us"]["overhead"]
        lines.append(
            _row(
                "order-api: interceptor ≤ 15 µs per RPC",
                f"{_f(overhead)} µs",
                _verdict(overhead <= 15),
            )
        )
    if "end_to_end" in results:
        ratio = results["end_to_end"]["ratio_to_off"]
        for variant, label, goal in END_TO_END_GOALS:
            lines.append(
                _row(
                    f"end to end, {label}: ≥ {goal:.2f}× telemetry off",
                    f"{_f(ratio[variant], 2)}×",
                    _verdict(ratio[variant] >= goal),
                )
            )
        lines += _unsampled_goals(results["end_to_end"])
        under_load = results["end_to_end"]["gateway_scrape_under_load_ms"]
        lines.append(
            _row("scrape under load < 50 ms", f"{_f(under_load)} ms", _verdict(under_load < 50))
        )
    if "scrape" in results:
        worst = max(row["ratio"] for row in results["scrape"].values())
        lines.append(
            _row(
                "scrape ≤ 1.0× prometheus_client",
                f"{_f(worst, 3)}× (worst)",  # three places: it sits at 1.0
                _verdict(worst <= 1.0),
            )
        )
    if "native" in results and "skipped" not in results["native"]:
        worst = results["native"]["native_worst_error"]
        lines.append(
            _row(
                "native histogram quantiles within 5% of the exact ones",
                f"{_f(worst * 100)}% (worst)",
                _verdict(worst <= results["native"]["goal_relative_error"]),
            )
        )
    if "servers" in results:
        ratio = throughput_vs_cheroot(results["servers"])
        lines.append(
            _row(
                "gateway server: throughput ≥ 0.95× cheroot's",
                f"{_f(ratio, 2)}× (worst)",
                _verdict(ratio >= 0.95),
            )
        )
    if "workers" in results:
        lines += _worker_goals(results["workers"])
    lines.append("")
    return "\n".join(lines)


def _worker_goals(figures: dict[str, Any]) -> list[str]:
    two_to_one = figures["two_to_one"]
    ratios = figures["ratio_to_off"]
    profiles = ("lean", "default")
    return [
        _row(
            "gateway: 2 processes ≥ 1.6× of 1, telemetry off / default",
            f"{_f(two_to_one['off'], 2)}× / {_f(two_to_one['default'], 2)}×",
            _verdict(min(two_to_one["off"], two_to_one["default"]) >= 1.6),
        ),
        _row(
            "telemetry ratios at N=2 no worse than at N=1 (lean, default)",
            ", ".join(
                f"{p} {_f(ratios['2'][p], 2)}× vs {_f(ratios['1'][p], 2)}×" for p in profiles
            ),
            _verdict(all(ratios["2"][p] >= ratios["1"][p] for p in profiles)),
        ),
    ]


def _unsampled_goals(end_to_end: dict[str, Any]) -> list[str]:
    """The unsampled goal end to end: from the paired rounds when the run has them."""
    paired = end_to_end.get("unsampled_paired")
    breakdown = end_to_end["breakdown_cpu_us"]
    if not paired and UNSAMPLED_PIECE not in breakdown:
        return []
    rows = []
    for service, label in (("web-gateway", "gateway"), ("order-api", "order-api per RPC")):
        if paired:
            extra = paired[service]["median_us"]
            figure = f"{_median_se(paired[service])}, {paired['rounds']} paired rounds"
            if "floor" in paired:
                figure += f"; its floor {_median_se(paired['floor'][service])}"
        else:
            extra = breakdown[UNSAMPLED_PIECE][service]
            figure = f"{extra:+,.0f} µs"
        rows.append(
            _row(
                f"end to end, an unsampled request ≤ {UNSAMPLED_GOAL_US:.0f} µs CPU over "
                f"default, {label}",
                figure,
                _verdict(extra <= UNSAMPLED_GOAL_US),
            )
        )
    return rows


def _median_se(difference: dict[str, Any]) -> str:
    """A paired difference as `+20 µs (± 15 µs)`: median and standard error."""
    return f"{difference['median_us']:+,.0f} µs (± {_f(difference['standard_error_us'], 0)} µs)"
