"""Signals, replicas, worker processes and native histograms: the page's sections 8 to 11."""

from __future__ import annotations

from typing import Any

from bench.report_format import f as _f
from bench.report_format import row as _row


def signals(figures: dict[str, Any]) -> str:
    request = figures["per_request"]
    cpu = request["cpu_us_per_request"]
    lines = [
        "## 9. Exemplars and access lines\n",
        _row("per gateway request, traced", "CPU µs", "added"),
        _row("---", "---:", "---:"),
        _row("exemplars off, no access line", _f(cpu["traced"]), "—"),
        _row("trace-based exemplars", _f(cpu["traced_exemplars"]), _f(request["exemplars_us"])),
        _row("JSON access line", _f(cpu["traced_access_log"]), _f(request["access_log_us"])),
        "",
        _row(
            "series, one exemplar each",
            "OpenMetrics without, ms",
            "OpenMetrics with, ms",
            "ratio",
            "text, ms",
            "bytes without / with",
        ),
        _row("---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for count, row in figures["per_scrape"].items():
        ms, size = row["ms"], row["bytes"]
        lines.append(
            _row(
                count,
                _f(ms["openmetrics_without"]),
                _f(ms["openmetrics_with"]),
                f"{_f(row['exemplar_ratio'], 2)}×",
                _f(ms["text_with"]),
                f"{size['openmetrics_without']:,} / {size['openmetrics_with']:,}",
            )
        )
    lines.append("")
    return "\n".join(lines)


def throughput_vs_cheroot(figures: dict[str, Any]) -> float:
    """The worst waitress/cheroot throughput ratio over the connection counts."""
    return min(
        float(servers["waitress"]["requests_per_second"])
        / float(servers["cheroot"]["requests_per_second"])
        for connections, servers in figures.items()
        if connections != "load_average"
    )


def scaling(figures: dict[str, Any]) -> str:
    if "skipped" in figures:
        return f"## 8. Scaling out\n\nSkipped: {figures['skipped']}.\n"
    stores = figures["store_ops_per_second"]
    lines = [
        "## 8. Scaling out: SQLite vs PostgreSQL, 1 vs 2 replicas\n",
        f"Store calls per second, {figures['threads']} threads sharing one store"
        " (SQLite WAL + synchronous=FULL; PostgreSQL 15 local, fsync on):\n",
        _row("backend", "CreateOrder/s", "GetOrder/s"),
        _row("---", "---:", "---:"),
    ]
    for name, ops in stores.items():
        lines.append(_row(name, _f(ops["create"]), _f(ops["get"])))
    replicas = figures["replicas"]
    per_second = replicas["get_order_requests_per_second"]
    lines += [
        "",
        "`GET /orders/<id>` end to end (wrk, 16 connections in total), N gateways balancing"
        " over N order-apis on one PostgreSQL database, all on this machine:\n",
        _row("replicas of each service", "requests/s", ""),
        _row("---", "---:", ""),
        _row("1", _f(per_second["1"]), ""),
        _row("2", _f(per_second["2"]), ""),
        "",
        f"Two replicas give {_f(replicas['ratio_2_to_1']['get'], 2)}× the throughput of one"
        " here: every process, PostgreSQL and wrk share the same 2 cores, so a second"
        " replica adds no CPU; on separate hosts the ratio is unproven by this suite.\n",
    ]
    return "\n".join(lines)


def workers(figures: dict[str, Any], cpus: int) -> str:
    throughput = figures["throughput_rps"]
    cpu = figures["cpu_us_per_request"]

    def cores(variant: str) -> float:
        """CPU cores both services used: requests/s times their CPU µs per request."""
        return float(throughput[variant] * sum(cpu[variant].values()) / 1e6)

    lines = [
        "## 10. Worker processes: 2 per service against 1\n",
        f"`GET /orders/<id>` end to end (wrk, {figures['connections']} connections), both"
        " services under the launcher with GATEWAY_PROCESSES = ORDER_API_PROCESSES = N;"
        " CPU per request counts the supervisor and every worker:\n",
        _row(
            "profile",
            "N=1 requests/s",
            "N=2 requests/s",
            "2 vs 1",
            "vs off, N=1",
            "vs off, N=2",
            "gateway CPU µs, N=1 / N=2",
            "cores used by both services, N=1 / N=2",
        ),
        _row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"),
    ]
    for profile, two_to_one in figures["two_to_one"].items():
        one, two = f"{profile}_1", f"{profile}_2"
        lines.append(
            _row(
                profile,
                _f(throughput[one]),
                _f(throughput[two]),
                f"{_f(two_to_one, 2)}×",
                f"{_f(figures['ratio_to_off']['1'][profile], 2)}×",
                f"{_f(figures['ratio_to_off']['2'][profile], 2)}×",
                f"{_f(cpu[one]['web-gateway'])} / {_f(cpu[two]['web-gateway'])}",
                f"{_f(cores(one), 2)} / {_f(cores(two), 2)}",
            )
        )
    # What 2 processes could give at most here: every core busy with the two services alone
    # (the load generator and the kernel's share taken as nothing).
    ceiling = cpus * 1e6 / sum(cpu["off_2"].values()) / throughput["off_1"]
    lines += [
        "",
        f"The services and `wrk` share this machine's {cpus} cores. With telemetry off, the"
        f" two services together spend {_f(sum(cpu['off_2'].values()))} µs of CPU per request"
        f" at N=2, so all {cpus} cores would serve at most"
        f" {_f(cpus * 1e6 / sum(cpu['off_2'].values()))} requests/s — {_f(ceiling, 2)}× of"
        " N=1 — even if the load generator and the kernel cost nothing.",
    ]
    workers = figures["scrape_workers"]
    lines += [
        "",
        f"Scrape of each service's `/metrics` at 1 and {workers} processes (the merged"
        " endpoint: every worker's series, each labelled `worker`), median of 20 idle scrapes:\n",
        _row("service", "1 process: ms", "bytes", f"{workers} processes: ms", "bytes"),
        _row("---", "---:", "---:", "---:", "---:"),
    ]
    for service, by_count in figures["scrape"].items():
        single, merged = by_count["1"], by_count[str(workers)]
        lines.append(
            _row(
                service,
                _f(single["ms"]),
                f"{single['bytes']:,}",
                _f(merged["ms"]),
                f"{merged['bytes']:,}",
            )
        )
    lines.append("")
    return "\n".join(lines)


def native_table(figures: dict[str, Any], *, heading: str) -> str:
    """Suite 11's tables (the README shows the same)."""
    if "skipped" in figures:
        return f"{heading}\n\nSkipped: {figures['skipped']}.\n"
    lines = [
        f"{heading}: accuracy and cost\n",
        f"{figures['rate']:g} requests/s of the realistic mix for {figures['seconds']:g} s, "
        f"faults `{figures['faults']}`; errors relative to the exact quantile.\n",
        _row("RPC", "RPCs", "quantile", "exact", "native", "error", "classic buckets", "error"),
        _row("---", "---:", "---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for method, row in figures["methods"].items():
        for name, q in row["quantiles"].items():
            lines.append(
                _row(
                    method,
                    row["rpcs"],
                    name,
                    f"{q['exact_ms']:.3f} ms",
                    f"{q['native_ms']:.3f} ms",
                    f"{q['native_error'] * 100:.1f}%",
                    f"{q['classic_ms']:.3f} ms",
                    f"{q['classic_error'] * 100:.0f}%",
                )
            )
    record, export, size = figures["record_us"], figures["export_us"], figures["export_bytes"]
    exponential, explicit = "base2_exponential_bucket_histogram", "explicit_bucket_histogram"
    lines += [
        "",
        _row("cost", "exponential", "explicit", "ratio"),
        _row("---", "---:", "---:", "---:"),
        _row(
            "record one RPC, CPU µs",
            _f(record[exponential], 2),
            _f(record[explicit], 2),
            f"{_f(record[exponential] / record[explicit], 2)}×",
        ),
        _row(
            "one export to Prometheus, CPU µs",
            _f(export[exponential]),
            _f(export[explicit]),
            f"{_f(figures['export_ratio'], 2)}×",
        ),
        _row(
            "one export, bytes",
            size[exponential],
            size[explicit],
            f"{_f(figures['export_bytes_ratio'], 2)}×",
        ),
        "",
    ]
    return "\n".join(lines)
