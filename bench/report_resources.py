"""Scrapes, memory, HTTP servers, OTLP push and TLS: the page's sections 4 to 7 and 12."""

from __future__ import annotations

from typing import Any

from bench.report_format import f as _f
from bench.report_format import load_note
from bench.report_format import row as _row


def scrape(figures: dict[str, Any], end_to_end: dict[str, Any] | None) -> str:
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


def memory(memory: dict[str, Any]) -> str:
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


def servers(figures: dict[str, Any]) -> str:
    lines = [
        "## 7. The gateway's HTTP server: waitress against cheroot\n",
        load_note(figures),
        "`waitress`: the gateway as it runs (the thread idle the shortest takes the next "
        "request); `oldest first`: the same with waitress's own dispatcher (the thread idle "
        "the longest); `cheroot`: the server before waitress.\n",
        _row(
            "connections",
            "",
            "waitress",
            "oldest first",
            "cheroot",
            "waitress / oldest first",
            "waitress / cheroot",
        ),
        _row("---", "---", "---:", "---:", "---:", "---:", "---:"),
    ]
    for connections, servers in figures.items():
        if connections == "load_average":
            continue
        waitress, fifo, cheroot = servers["waitress"], servers["waitress_fifo"], servers["cheroot"]
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
                    _f(fifo[key], digits),
                    _f(cheroot[key], digits),
                    f"{_f(waitress[key] / fifo[key], 2)}×",
                    f"{_f(waitress[key] / cheroot[key], 2)}×",
                )
            )
    lines.append("")
    return "\n".join(lines)


def otlp(figures: dict[str, Any]) -> str:
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


def tls(figures: dict[str, Any]) -> str:
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
