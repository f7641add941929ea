"""The unsampled request's cost end to end from the paired rounds: figures, sentence, goal rows."""

from __future__ import annotations

from typing import Any

from bench.end_to_end import unsampled_paired
from bench.report import _unsampled_goals
from bench.report_breakdown import unsampled_paired_sentence


def _round(gateway: float, order_api: float) -> dict[str, Any]:
    return {"cpu_us_per_request": {"web-gateway": gateway, "order-api": order_api}}


ROUNDS = {
    "default": [_round(1000, 500), _round(1100, 520), _round(1050, 510)],
    "traced_unsampled": [_round(1020, 560), _round(1160, 570), _round(1060, 550)],
}
PAIRED = unsampled_paired(ROUNDS)
WITH_FLOOR = unsampled_paired(
    {**ROUNDS, "unsampled_floor": [_round(1010, 540), _round(1140, 560), _round(1080, 530)]}
)


def test_the_differences_are_taken_round_by_round() -> None:
    gateway = PAIRED["web-gateway"]
    assert PAIRED["rounds"] == 3
    assert gateway["per_round_us"] == [20, 60, 10]
    assert gateway["median_us"] == 20
    assert round(gateway["stdev_us"], 3) == 26.458
    assert round(gateway["standard_error_us"], 2) == 15.28
    assert PAIRED["order-api"]["median_us"] == 50


def test_the_goal_rows_use_the_paired_figures_when_the_run_has_them() -> None:
    breakdown = {"traces exported, no span sampled (over default)": {"web-gateway": 99.0}}
    rows = _unsampled_goals({"breakdown_cpu_us": breakdown, "unsampled_paired": PAIRED})
    assert rows[0].startswith("| end to end, an unsampled request ≤ 30 µs CPU over default, gate")
    assert "| +20 µs (± 15 µs), 3 paired rounds | met |" in rows[0]
    assert "| +50 µs (± 6 µs), 3 paired rounds | **not met** |" in rows[1]


def test_a_run_without_paired_rounds_falls_back_to_the_breakdown() -> None:
    breakdown = {
        "traces exported, no span sampled (over default)": {"web-gateway": 40.0, "order-api": 9.0}
    }
    rows = _unsampled_goals({"breakdown_cpu_us": breakdown})
    assert "| +40 µs | **not met** |" in rows[0]
    assert "| +9 µs | met |" in rows[1]
    assert unsampled_paired_sentence(None) == ""


def test_the_sentence_gives_both_services_with_their_spread() -> None:
    sentence = unsampled_paired_sentence(PAIRED)
    assert "3 more rounds of `default` and `traced_unsampled` alone" in sentence
    assert "**+20 µs** per gateway request (per-round standard deviation 26 µs" in sentence
    assert "**+50 µs** per RPC" in sentence


def test_the_floor_is_set_against_the_default_and_the_project_against_the_floor() -> None:
    assert "floor" not in PAIRED
    assert WITH_FLOOR["web-gateway"] == PAIRED["web-gateway"]
    assert WITH_FLOOR["floor"]["web-gateway"]["per_round_us"] == [10, 40, 30]
    assert WITH_FLOOR["floor"]["order-api"]["median_us"] == 40
    assert WITH_FLOOR["over_floor"]["web-gateway"]["per_round_us"] == [10, 20, -20]
    assert WITH_FLOOR["over_floor"]["order-api"]["median_us"] == 20


def test_the_goal_rows_and_the_sentence_give_the_floor_when_the_rounds_have_it() -> None:
    rows = _unsampled_goals({"breakdown_cpu_us": {}, "unsampled_paired": WITH_FLOOR})
    assert "| +20 µs (± 15 µs), 3 paired rounds; its floor +30 µs (± 9 µs) | met |" in rows[0]
    assert "; its floor +40 µs (± 7 µs) | **not met** |" in rows[1]
    sentence = unsampled_paired_sentence(WITH_FLOOR)
    assert "of `default`, `traced_unsampled` and `unsampled_floor` alone" in sentence
    assert "costs **+30 µs** per gateway request (per-round standard deviation 15 µs" in sentence
    assert "the project's path costs +10 µs (standard error 12 µs) and +20 µs" in sentence
