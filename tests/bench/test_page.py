"""Merging a partial benchmark run into the page: re-run sections replace theirs, the rest stays."""

from __future__ import annotations

from bench.page import merge

PREVIOUS = """\
# Benchmarks

Old method.

Last run: Python 3.11, 2 CPUs, full mode, 900 s.

## 1. Gateway

old gateway figures

## 4. Scrape

old scrape figures, kept

## Goals

| goal | this run | verdict |
| --- | --- | --- |
| gateway: own cost ≤ 0.5× exporter's | 0.24× | met |
| end to end, default + 10% of traces: ≥ 0.75× telemetry off | 0.62× | **not met** |
| scrape ≤ 1.0× prometheus_client | 1.000× | **not met** |
"""

RENDERED = """\
# Benchmarks

New method.

Last run: Python 3.11, 2 CPUs, full mode, 60 s.

## 1. Gateway

new gateway figures

## 13. Tracing

new section

## Goals

| goal | this run | verdict |
| --- | --- | --- |
| end to end, default + 10% of traces: ≥ 0.72× telemetry off | 0.61× | **not met** |
| an unsampled request ≤ 30 µs | +40 µs | **not met** |
"""


def test_rerun_sections_replace_theirs_and_the_others_stay() -> None:
    page = merge(PREVIOUS, RENDERED, "`gateway` (60 s)")

    assert "new gateway figures" in page and "old gateway figures" not in page
    assert "old scrape figures, kept" in page
    assert page.index("## 1.") < page.index("## 4.") < page.index("## 13.") < page.index("## Goals")
    assert "New method." in page and "Old method." not in page


def test_the_header_keeps_the_full_run_and_names_the_rerun() -> None:
    page = merge(PREVIOUS, RENDERED, "`gateway` (60 s)")

    assert (
        "Last run: Python 3.11, 2 CPUs, full mode, 900 s; re-run alone since: `gateway` (60 s)."
        in page
    )


def test_goal_rows_are_replaced_by_goal_whatever_their_threshold() -> None:
    goals = merge(PREVIOUS, RENDERED, "x").split("## Goals", 1)[1]

    assert "≥ 0.72×" in goals and "≥ 0.75×" not in goals
    assert "exporter's | 0.24×" in goals and "scrape ≤ 1.0×" in goals
    assert goals.strip().endswith("| an unsampled request ≤ 30 µs | +40 µs | **not met** |")
