"""Section 14 of the benchmark page: the export cost per span, beside the recording cost."""

from __future__ import annotations

from typing import Any

from bench.report_profiles import (
    EXPORT_LABELS,
    recording_us_per_span,
    render,
    render_span_export,
)


def _side(grpc_us: float) -> dict[str, Any]:
    per_span = {name: grpc_us for name in EXPORT_LABELS}
    per_span.update(encode=grpc_us * 0.9, http_gzip=grpc_us * 1.2)
    return {"cpu_us_per_span": per_span, "attributes_per_span": 6, "encoded_bytes_per_span": 284}


FIGURES = {"batch": 512, "small_batch": 64, "gateway": _side(30.0), "rpc": _side(40.0)}
PROFILES = {
    "gateway": {"over_default_us": {"unsampled": 30.0, "every_trace": 150.0}},
    "rpc": {"over_default_us": {"unsampled": 25.0, "every_trace": 105.0}},
}


def test_recording_a_span_is_the_every_trace_cost_over_unsampled_per_span() -> None:
    # The gateway records two spans per request, the order-api one per RPC.
    assert recording_us_per_span(PROFILES) == {"gateway": 60.0, "rpc": 80.0}


def test_the_section_states_the_encoding_share_and_the_spread_of_the_variants() -> None:
    page = render_span_export(FIGURES, PROFILES)
    assert page.startswith("## 14. What exporting a recorded span costs")
    assert "costs 30.0 µs (gateway) and 40.0 µs (order-api)" in page
    assert "encoding in upstream's exporter is 90% and 90%" in page
    assert "by at most 20% between" in page
    assert "60.0 µs per gateway span and 80.0 µs per order-api span" in page


def test_without_suite_13_the_section_leaves_the_recording_cost_out() -> None:
    assert "Recording a span" not in render_span_export(FIGURES, None)


def _profiles_side(over: dict[str, float], ranges: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "cpu_us": {"default": 300.0} | {name: 300.0 + value for name, value in over.items()},
        "over_default_us": over,
        "over_default_range_us": ranges,
        "top_functions": {},
    }


def _section_13(floor: float) -> str:
    gateway = {"unsampled": 36.0, "flask_sdk_tracer": 12.0, "unsampled_floor": floor}
    return render(
        {
            "processes": 3,
            "gateway": _profiles_side(gateway, {"unsampled": [31.0, 44.0]}),
            "rpc": _profiles_side(
                {"unsampled": 25.0, "unsampled_floor": 21.0}, {"unsampled": [25.0, 25.0]}
            ),
        }
    )


def test_section_13_gives_the_range_over_processes_and_the_floor() -> None:
    page = _section_13(floor=33.0)
    assert "median over 3 fresh processes" in page
    assert "+36.0 (+31.0 … +44.0)" in page  # a range only where the processes differ
    assert "| +25.0 |" in page
    assert "the goal is out of reach at the gateway" in page
    assert "The project's path measured +3.0 µs against that floor." in page
    assert "is **+21.0 µs** per RPC; the project's path measured +4.0 µs against it." in page


def test_a_floor_within_the_goal_is_not_called_out_of_reach() -> None:
    page = _section_13(floor=24.0)
    assert "**+24.0 µs**, 8% of a default request (within the goal)" in page
    assert "out of reach" not in page
