"""The live view as plain text: tables of rows, the orders line, where latencies come from.

`render` lays a `Window` out as ASCII lines without control codes (the console
decides how they reach the terminal). A latency measured by a client or read
from a native histogram is a number (`3.3ms`); one from a contract histogram is
the bucket that holds it (`1-10ms`), since its decade-wide buckets say no more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from otel_stack.cli.liveview.window import Latency, RowStats, Window

LATENCY_WIDTH = 11


def render(window: Window, *, title: str, urls: Mapping[str, str]) -> list[str]:
    """The view as plain-text lines (ASCII only, no control codes)."""
    lines = [title, ""]
    lines += _table("GATEWAY ROUTE", window.routes)
    lines.append("")
    lines += _table("ORDER-API RPC", window.rpcs)
    lines.append("")
    if window.instances:
        lines += _table("INSTANCE", window.instances)
        lines.append("")
    rate = window.orders_created / window.seconds
    lines.append(
        f"orders created: {window.orders_total:.0f} total, "
        f"+{window.orders_created:.0f} in {window.seconds:.1f}s ({rate:.1f}/s)"
    )
    lines += _latency_notes(window)
    lines += [f"{name}: {url}" for name, url in urls.items()]
    lines += [f"! {error}" for error in window.errors]
    return lines


def format_latency(value: Latency | None) -> str:
    """A measured latency (`3.3ms`), or the histogram bucket holding it (`1-10ms`, `>5s`)."""
    if value is None or isinstance(value, float):
        return format_seconds(value)
    lower, upper = value
    if math.isinf(upper):
        return ">" + "".join(_bound(lower))
    if lower <= 0:
        return "<=" + "".join(_bound(upper))
    (low, low_unit), (high, high_unit) = _bound(lower), _bound(upper)
    return f"{low}{'' if low_unit == high_unit else low_unit}-{high}{high_unit}"


def format_seconds(value: float | None) -> str:
    """A latency for humans: 850us, 12.3ms, 1.25s; '-' when unknown."""
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f}us"
    if value < 1:
        return f"{value * 1e3:.1f}ms"
    return f"{value:.2f}s"


def _bound(seconds: float) -> tuple[str, str]:
    """A bucket bound as (number, unit): (`2.5`, `ms`)."""
    if seconds < 0.001:
        return f"{seconds * 1e6:g}", "us"
    if seconds < 1:
        return f"{seconds * 1e3:g}", "ms"
    return f"{seconds:g}", "s"


def _latency_notes(window: Window) -> list[str]:
    rows = [*window.routes, *window.rpcs]
    measured = any(
        isinstance(value, float) for row in rows if not row.native for value in row.quantiles
    )
    buckets = any(isinstance(value, tuple) for row in rows for value in row.quantiles)
    notes = []
    for service, table in (("gateway", window.routes), ("order-api", window.rpcs)):
        if any(row.native for row in table):
            notes.append(
                f"{service} latency like 7.3ms: the service's native histogram "
                "(server side, buckets ~9% wide)"
            )
    if measured:
        notes.append("latency like 3.3ms: timed by the traffic generator (client side)")
    if buckets:
        notes.append(
            "latency like 1-10ms: the service's histogram bucket holding it (no finer data)"
        )
    return notes


def _table(heading: str, rows: Sequence[RowStats]) -> list[str]:
    width = max([len(heading), *(len(row.name) for row in rows)])
    latency = "".join(f"  {name:>{LATENCY_WIDTH}}" for name in ("P50", "P95", "P99"))
    # The column appears only when the services trace (their buckets then carry exemplars).
    traced = any(row.slowest_trace for row in rows)
    lines = [
        f"{heading:<{width}}  {'REQ/S':>8}  {'ERR%':>6}{latency}"
        + ("  SLOWEST TRACE" if traced else "")
    ]
    for row in rows:
        ratio = "-" if row.error_ratio is None else f"{row.error_ratio * 100:.1f}%"
        values = "".join(f"  {format_latency(value):>{LATENCY_WIDTH}}" for value in row.quantiles)
        line = f"{row.name:<{width}}  {row.rate:>8.1f}  {ratio:>6}{values}"
        if traced:
            line += f"  {row.slowest_trace or '-'}"
        lines.append(line)
    if not rows:
        lines.append("(no series yet)")
    return lines
