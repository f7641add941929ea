"""Plain-text reports of a load run: the progress line and the final summary."""

from __future__ import annotations

from otel_stack.cli.liveview.text import format_seconds
from otel_stack.harness.latency import LatencyStats
from otel_stack.harness.load import LoadSummary


def progress_line(summary: LoadSummary, *, duration: float | None) -> str:
    """One line: elapsed time, requests sent, achieved rate, failures, latency so far."""
    limit = f"/{duration:.0f}s" if duration is not None else "s"
    failed = sum(summary.failures.values())
    non_2xx = sum(count for (_, _, status), count in summary.counts.items() if status >= 300)
    return (
        f"{summary.elapsed:5.1f}{limit}  {summary.total} requests  "
        f"{summary.achieved_rate:.1f} req/s  {non_2xx} non-2xx  {failed} failed  "
        f"p95 {format_seconds(summary.latency.p95)}"
    )


def summary_lines(summary: LoadSummary) -> list[str]:
    """The end-of-run report: counts by kind and status, by route, and client latency."""
    lines = [
        f"{summary.total} requests in {summary.elapsed:.1f}s ({summary.achieved_rate:.1f} req/s)"
    ]
    lines.append("by kind and status:")
    for (kind, status), count in sorted(summary.by_kind.items()):
        lines.append(f"  {kind:<22} {status}  {count:>8}")
    for kind, count in sorted(summary.failures.items()):
        lines.append(f"  {kind:<22} --- {count:>8}  (no response)")
    lines.append("by route and status (as labelled in http_requests_total):")
    for (method, route, status), count in sorted(summary.counts.items()):
        lines.append(f"  {method:<5} {route:<22} {status}  {count:>8}")
    if summary.failure_reasons:
        reasons = ", ".join(f"{name} x{count}" for name, count in summary.failure_reasons.items())
        lines.append(f"failures without a response: {reasons}")
    lines.append(f"latency: {latency_text(summary.latency)}")
    return lines


def latency_text(stats: LatencyStats) -> str:
    """p50/p95/p99/max on one line."""
    return (
        f"p50 {format_seconds(stats.p50)}  p95 {format_seconds(stats.p95)}  "
        f"p99 {format_seconds(stats.p99)}  max {format_seconds(stats.max)}"
    )
