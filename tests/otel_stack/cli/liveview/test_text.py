"""The live view as plain text: tables, latency notes, formats (liveview/text.py)."""

from __future__ import annotations

from dataclasses import replace

from otel_stack.cli.liveview.reading import Reading
from otel_stack.cli.liveview.text import format_latency, format_seconds, render
from otel_stack.cli.liveview.window import Latency, compare
from tests.otel_stack.cli.liveview.expositions import (
    client_latencies,
    traced_gateway,
    window_readings,
)


def test_the_view_says_where_its_latencies_come_from() -> None:
    before, after = window_readings()
    measured = compare(
        replace(before, client=client_latencies()), replace(after, client=client_latencies(0.003))
    )
    text = "\n".join(render(measured, title="t", urls={}))
    assert "3.0ms" in text and "timed by the traffic generator" in text
    assert "histogram bucket" not in text  # the order-api rows have no histogram here
    bucketed = "\n".join(render(compare(before, after), title="t", urls={}))
    assert "10-100ms" in bucketed and "histogram bucket" in bucketed
    assert "timed by the traffic generator" not in bucketed


def test_format_latency_shows_buckets_as_ranges() -> None:
    values: list[Latency | None] = [
        0.0033,
        (0.001, 0.01),
        (0.0, 0.001),
        (0.5, 1.0),
        (5.0, float("inf")),
        None,
    ]
    assert [format_latency(v) for v in values] == [
        "3.3ms",
        "1-10ms",
        "<=1ms",
        "500ms-1s",
        ">5s",
        "-",
    ]


def test_failed_scrape_is_shown_not_raised() -> None:
    before, _ = window_readings()
    window = compare(before, Reading(12.0, None, None, ("cannot scrape x: refused",)))
    lines = render(window, title="t", urls={})
    assert "! cannot scrape x: refused" in lines


def test_render_is_plain_ascii_with_rates_and_urls() -> None:
    lines = render(compare(*window_readings()), title="title", urls={"prometheus": "http://p:9090"})
    text = "\n".join(lines)
    assert text.isascii() and "\x1b" not in text
    assert "GET /orders/<order_id>" in text and "10.0" in text and "25.0%" in text
    assert "prometheus: http://p:9090" in text
    assert "orders created: 14 total, +4 in 2.0s (2.0/s)" in text


def test_format_seconds_picks_a_readable_unit() -> None:
    assert [format_seconds(v) for v in (None, 0.0005, 0.0123, 1.5)] == [
        "-",
        "500us",
        "12.3ms",
        "1.50s",
    ]


def test_the_trace_column_appears_only_when_there_are_traces() -> None:
    traced = traced_gateway({"1.0": '# {trace_id="ccc",span_id="3"} 0.5 1001.0'})
    window = compare(
        Reading(10.0, None, None, wall_time=1000.0), Reading(12.0, traced, None, wall_time=1002.0)
    )
    lines = render(window, title="t", urls={})
    assert lines[2].endswith("SLOWEST TRACE") and lines[3].endswith("  ccc")
    untraced = render(compare(*window_readings()), title="t", urls={})
    assert "SLOWEST TRACE" not in "\n".join(untraced)
