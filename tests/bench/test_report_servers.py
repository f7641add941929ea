"""Section 7 of the benchmark page and its goal: three gateway servers, beside the load average."""

from __future__ import annotations

from typing import Any

from bench.report_resources import servers
from bench.report_scale import throughput_vs_cheroot


def _server(requests_per_second: float) -> dict[str, float]:
    return {
        "requests_per_second": requests_per_second,
        "p50_ms": 10.0,
        "p99_ms": 20.0,
        "cpu_us_per_request": 1e6 / requests_per_second,
    }


# As `python -m bench` stores the suite: a run's load average beside the connection counts.
FIGURES: dict[str, Any] = {
    "16": {"waitress": _server(1050), "waitress_fifo": _server(1000), "cheroot": _server(700)},
    "256": {"waitress": _server(900), "waitress_fifo": _server(1000), "cheroot": _server(1000)},
    "load_average": [3.3, 3.6, 2.3],
}


def test_the_section_compares_waitress_with_its_own_dispatcher_and_with_cheroot() -> None:
    page = servers(FIGURES)

    assert "Load average when the suite ended: 3.3, 3.6, 2.3." in page
    assert "| 16 | requests/s (median) | 1,050 | 1,000 | 700 | 1.05× | 1.50× |" in page
    assert "| 256 | requests/s (median) | 900 | 1,000 | 1,000 | 0.90× | 0.90× |" in page


def test_the_goal_reads_the_worst_connection_count() -> None:
    assert throughput_vs_cheroot(FIGURES) == 0.9
