"""Render bench results as docs/benchmarks.md: the method, the figures and each goal's verdict."""

from __future__ import annotations

from typing import Any

from bench import report_format, report_profiles
from bench.report_format import f as _f
from bench.report_format import row as _row
from bench.report_format import verdict as _verdict
from bench.report_profiles import UNSAMPLED_GOAL_US

METHOD = """\
# Benchmarks: what the telemetry costs

`make bench` (about 17 minutes on 2 cores, needs `wrk`; `python -m bench --quick` about 5)
runs every suite below and rewrites this page and `bench/results/latest.json`. Every comparison is
measured **in the same run, interleaved** (variants take turns, round after round) and
reported as medians and ratios: absolute numbers depend on the machine, ratios much less.

1. **Gateway request path, in process** — CPU µs per `GET /orders/<id>` through the WSGI
   app with the order-api client replaced by an in-process fake, so only Flask and
   telemetry are measured: no telemetry; the mandated upstream Flask instrumentation alone;
   the project's metrics (upstream + the contract's middleware: the default profile); the
   same with traces exported and the `always_off` sampler (`project_unsampled`); full
   telemetry (metrics + tracing through a batch span processor into a discarding exporter);
   `prometheus-flask-exporter` on the same app.
2. **RPC path** — order-api: CPU µs per `GetOrder` of the metrics interceptor called in
   process against the bare servicer method (the interceptor's own cost), and wall µs of
   real loopback calls to two servers, with and without it. Gateway: CPU µs of the calling
   process per loopback `GetOrder` to an order-api process, through a plain channel, the
   gateway's `MeteredChannel` and the metrics interceptor it replaced, interleaved.
3. **End to end** — both services as real processes under `opentelemetry-instrument`, one
   pair per variant (listed with the table), differing only in standard `OTEL_*` variables;
   spans go over OTLP to a receiver running as a process of its own. Closed-loop `wrk`
   (2 threads, 8 connections) on `GET /orders/<id>` takes turns between the pairs, round
   after round; CPU per request is each process's CPU time during a run over the requests
   wrk completed in it.
4. **Scrape** — render CPU time and size of N request series (counter + 7-bucket histogram)
   through the project's Prometheus reader (upstream's OTel reader plus exemplars, off here)
   versus `prometheus_client` rendering the same series;
   and the gateway's real `/metrics` idle and while under the load of suite 3.
5. **Memory** — RSS of each service idle, after warm-up, and after 100,000 more requests.
6. **OTLP push versus Prometheus pull** — the same 100 request series (counter + histogram)
   in two meter providers, one read by the Prometheus reader, one exported over OTLP/gRPC
   to the real collector (`make collector`; skipped without it): CPU µs of this process per
   scrape and per export, per recorded request, and amortised per request at 20 requests/s
   with scrapes every 15 s and exports every 60 s (SDK default) or 15 s (compose). The
   collector's own CPU is not counted.
7. **The gateway's HTTP server** — one order-api and two gateways in front of it, the same
   app, telemetry off: one served by waitress (the gateway's server), one by cheroot (its
   server before waitress, `bench/cheroot_gateway.py`). Closed-loop `wrk` on
   `GET /orders/<id>` with 16 and with 256 connections, alternating between the two.
8. **Exemplars and access lines** — CPU µs per gateway request (as suite 1, with tracing)
   with exemplars off, with the trace-based exemplar filter, and with JSON access lines
   written to /dev/null; and render time of N series with one exemplar each in OpenMetrics,
   against the same series without exemplars, and in the classic text format.
9. **Worker processes** (section 10) — both services under the launcher with
   `GATEWAY_PROCESSES` = `ORDER_API_PROCESSES` = 1 and = 2, telemetry off, lean and default,
   six pairs; closed-loop `wrk` (16 connections) on `GET /orders/<id>` takes turns between
   them; CPU per request counts the supervisor and every worker. Then the scrape time and
   size of each service's `/metrics` at 1 and at 4 processes (the merged endpoint).
11. **Native histograms: accuracy and cost** — both services pushing OTLP/HTTP into the
   tested Prometheus with its OTLP receiver, the semantic-convention durations as
   exponential histograms (`otel-stack up --otlp-prometheus`); injected latency spreads the
   RPC methods (`latency:ListOrders=5ms`, `latency:CreateOrder=20ms`, GetOrder as is) under
   the realistic mix. Per method, p50/p90/p99 by `histogram_quantile` over the whole run from
   the native `rpc_server_call_duration_seconds` and from the classic
   `grpc_request_duration_seconds` buckets of the same run, against the exact nearest-rank
   quantiles of every RPC's `duration_ms` in the order-api's access lines (the values the
   histograms recorded). Cost, interleaved in process: CPU µs to record one RPC with an
   exponential versus an explicit-bucket reader, and per export of this run's durations
   (replayed) to the same Prometheus, CPU µs and bytes of the OTLP request.
13. **What tracing costs per request, in process** — one gateway `GET /orders/<id>` (the
   instrumented app and the gateway's instrumented gRPC client over a channel that answers
   at once) and one order-api `GetOrder` (through the server's interceptors with the
   gateway's `traceparent`), built by the services' own code, in five profiles: default (no
   traces), traces exported with the `always_off` sampler (a request a sampler drops),
   `parentbased_traceidratio` 0.1, every trace, and `always_off` with every call through
   upstream's gRPC interceptors (as before the short path of `otel/grpc_tracing.py`). Spans
   go through a batch processor into a discarding exporter, flushed in each round's window.
   CPU µs per call interleaved; then each once more under cProfile (thread CPU time), whose
   functions by own time say where the µs go (profiled times are inflated by the profiler;
   read them as shares).
"""


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


def render(results: dict[str, Any]) -> str:
    """Return the Markdown page for one run's results."""
    parts = [METHOD, f"Last run: {_machine(results)}.\n"]
    if "gateway" in results:
        parts.append(_gateway(results["gateway"]))
    if "rpc" in results or "rpc_client" in results:
        parts.append(_rpc(results.get("rpc"), results.get("rpc_client")))
    if "end_to_end" in results:
        parts.append(_end_to_end(results["end_to_end"]))
    if "scrape" in results:
        parts.append(_scrape(results["scrape"], results.get("end_to_end")))
    if "end_to_end" in results:
        parts.append(_memory(results["end_to_end"]["memory"]))
    if "otlp" in results:
        parts.append(_otlp(results["otlp"]))
    if "servers" in results:
        parts.append(_servers(results["servers"]))
    if "scaling" in results:
        parts.append(_scaling(results["scaling"]))
    if "signals" in results:
        parts.append(_signals(results["signals"]))
    if "workers" in results:
        parts.append(_workers(results["workers"]))
    if "native" in results:
        parts.append(native_table(results["native"], heading="## 11. Native histograms"))
    if "tls" in results:
        parts.append(_tls(results["tls"]))
    if "profiles" in results:
        parts.append(report_profiles.render(results["profiles"]))
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


def _gateway(figures: dict[str, Any]) -> str:
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


def _rpc(server: dict[str, Any] | None, client: dict[str, dict[str, float]] | None) -> str:
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


def _end_to_end(figures: dict[str, Any]) -> str:
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
    lines.append(_tracing_sentence(figures["breakdown_cpu_us"]))
    lines.append(_largest_pieces(figures["breakdown_cpu_us"]))
    lines.append(_cuts(figures))
    return "\n".join(lines)


def _tracing_sentence(breakdown: dict[str, dict[str, float]]) -> str:
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


def _largest_pieces(breakdown: dict[str, dict[str, float]]) -> str:
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


def _cuts(figures: dict[str, Any]) -> str:
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
    lines.append("")
    return "\n".join(lines)


def _scrape(figures: dict[str, Any], end_to_end: dict[str, Any] | None) -> str:
    lines = [
        "## 4. Scrape\n",
        _row(
            "series (counter + histogram)",
            "OTel reader, ms",
            "prometheus_client, ms",
            "ratio",
            "OTel bytes",
            "prometheus_client bytes",
        ),
        _row("---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for count, row in figures.items():
        lines.append(
            _row(
                count,
                _f(row["otel_ms"]),
                _f(row["prometheus_client_ms"]),
                f"{_f(row['ratio'], 2)}×",
                f"{row['otel_bytes']:,}",
                f"{row['prometheus_client_bytes']:,}",
            )
        )
    if end_to_end:
        lines.append("")
        lines.append(
            f"The gateway's real `/metrics` after the benchmark's traffic: "
            f"{end_to_end['gateway_scrape_bytes']:,} bytes, "
            f"{_f(end_to_end['gateway_scrape_idle_ms'], 1)} ms idle, "
            f"**{_f(end_to_end['gateway_scrape_under_load_ms'], 1)} ms** (median) under full load."
        )
    lines.append("")
    return "\n".join(lines)


def _memory(memory: dict[str, Any]) -> str:
    lines = [
        "## 5. Memory (RSS, MiB)\n",
        _row(
            "service",
            "idle, off",
            "idle, full",
            "after warm-up",
            f"after {memory['requests']:,} more requests",
            "growth",
        ),
        _row("---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for service in ("web-gateway", "order-api"):
        warm, after = memory["after_warmup_mb"][service], memory["after_requests_mb"][service]
        lines.append(
            _row(
                service,
                _f(memory["idle_mb"]["off"][service]),
                _f(memory["idle_mb"]["full"][service]),
                _f(warm),
                _f(after),
                _f(after - warm),
            )
        )
    lines.append("")
    return "\n".join(lines)


def _servers(figures: dict[str, Any]) -> str:
    lines = [
        "## 7. The gateway's HTTP server: waitress against cheroot\n",
        _row("connections", "", "waitress", "cheroot", "waitress / cheroot"),
        _row("---", "---", "---:", "---:", "---:"),
    ]
    for connections, servers in figures.items():
        waitress, cheroot = servers["waitress"], servers["cheroot"]
        for key, label, digits in (
            ("requests_per_second", "requests/s (median)", 0),
            ("p50_ms", "p50 latency, ms", 2),
            ("p99_ms", "p99 latency, ms", 2),
            ("cpu_us_per_request", "gateway CPU µs per request", 0),
        ):
            lines.append(
                _row(
                    connections,
                    label,
                    _f(waitress[key], digits),
                    _f(cheroot[key], digits),
                    f"{_f(waitress[key] / cheroot[key], 2)}×",
                )
            )
    lines.append("")
    return "\n".join(lines)


def _otlp(figures: dict[str, Any]) -> str:
    if "skipped" in figures:
        return f"## 6. OTLP push versus Prometheus pull\n\nSkipped: {figures['skipped']}.\n"
    amortised, ratios = figures["amortised_us"], figures["amortised_over_pull"]
    labels = {
        "pull_15s": "Prometheus pull, scraped every 15 s",
        "push_60s": "OTLP push every 60 s",
        "push_15s": "OTLP push every 15 s",
    }
    lines = [
        "## 6. OTLP push versus Prometheus pull\n",
        f"{figures['series']} series; CPU of the service process, medians of interleaved rounds.\n",
        _row("per collection", "CPU µs"),
        _row("---", "---:"),
        _row("one scrape (`generate_latest`)", _f(figures["scrape_us"])),
        _row("one OTLP export to the collector", _f(figures["export_us"])),
        _row("export / scrape", f"{_f(figures['export_over_scrape'], 2)}×"),
        "",
        _row("per request", "CPU µs"),
        _row("---", "---:"),
        _row("record, Prometheus reader", _f(figures["record_pull_us"], 2)),
        _row("record, OTLP reader", _f(figures["record_push_us"], 2)),
        _row("difference (paired)", _f(figures["record_push_minus_pull_us"], 2)),
        "",
        _row(f"amortised per request at {figures['rate']:g} requests/s", "CPU µs", "vs pull"),
        _row("---", "---:", "---:"),
    ]
    for name, label in labels.items():
        lines.append(_row(label, _f(amortised[name], 1), f"{_f(ratios[name], 2)}×"))
    lines.append("")
    return "\n".join(lines)


def _tls(figures: dict[str, Any]) -> str:
    labels = {
        "plaintext_reused": "plaintext, one connection (the gateway's way)",
        "tls_reused": "TLS, one connection",
        "mtls_reused": "mTLS, one connection",
        "plaintext_new_connection": "plaintext, a new connection per call",
        "mtls_new_connection": "mTLS, a new connection (handshake) per call",
    }
    lines = [
        "## 12. TLS on the gateway → order-api hop\n",
        "GetOrder from this process to an order-api process (telemetry off); CPU per call of",
        "the client (as the gateway pays it) and of the order-api, medians of interleaved",
        "rounds; ratios and differences paired by round.\n",
        _row("variant", "client CPU µs", "order-api CPU µs"),
        _row("---", "---:", "---:"),
    ]
    for name, label in labels.items():
        lines.append(_row(label, _f(figures[name]["client"]), _f(figures[name]["server"])))
    lines += [
        "",
        _row("comparison (client + order-api CPU)", "value"),
        _row("---", "---:"),
        _row("TLS / plaintext, one connection", f"{_f(figures['tls_reused_ratio'], 2)}×"),
        _row("mTLS / plaintext, one connection", f"{_f(figures['mtls_reused_ratio'], 2)}×"),
        _row("mTLS extra per call, one connection", f"{_f(figures['mtls_reused_extra_us'])} µs"),
        _row(
            "an mTLS handshake (new connection − reused)", f"{_f(figures['mtls_handshake_us'])} µs"
        ),
        _row(
            "a plaintext connection (new connection − reused)",
            f"{_f(figures['plaintext_connection_us'])} µs",
        ),
        _row(
            "new connection per call: mTLS / plaintext",
            f"{_f(figures['mtls_new_connection_ratio'], 2)}×",
        ),
        "",
    ]
    return "\n".join(lines)


def _signals(figures: dict[str, Any]) -> str:
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


def _throughput_vs_cheroot(figures: dict[str, Any]) -> float:
    """The worst waitress/cheroot throughput ratio over the connection counts."""
    return min(
        float(servers["waitress"]["requests_per_second"])
        / float(servers["cheroot"]["requests_per_second"])
        for servers in figures.values()
    )


def _scaling(figures: dict[str, Any]) -> str:
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


def _workers(figures: dict[str, Any]) -> str:
    throughput = figures["throughput_rps"]
    cpu = figures["cpu_us_per_request"]
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
        ),
        _row("---", "---:", "---:", "---:", "---:", "---:", "---:"),
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
            )
        )
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
        lines += _unsampled_goals(results["end_to_end"]["breakdown_cpu_us"])
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
        ratio = _throughput_vs_cheroot(results["servers"])
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


def _unsampled_goals(breakdown: dict[str, dict[str, float]]) -> list[str]:
    if UNSAMPLED_PIECE not in breakdown:
        return []
    extra = breakdown[UNSAMPLED_PIECE]
    return [
        _row(
            f"end to end, an unsampled request ≤ {UNSAMPLED_GOAL_US:.0f} µs CPU over default, "
            f"{label}",
            f"{extra[service]:+,.0f} µs",
            _verdict(extra[service] <= UNSAMPLED_GOAL_US),
        )
        for service, label in (("web-gateway", "gateway"), ("order-api", "order-api per RPC"))
    ]
