"""The time-compressed copies of the rules that the alerting end-to-end test loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otel_stack.harness.local_prometheus import rule_files
from tests.deploy.stack_files import load_yaml, rules, run_promtool
from tests.support.prometheus import scaled_duration, write_scaled_rules


def test_durations_are_scaled_to_whole_seconds_of_at_least_one() -> None:
    assert scaled_duration("5m", 1 / 60) == "5s"
    assert scaled_duration("1d", 1 / 60) == "1440s"
    assert scaled_duration("30s", 1 / 60) == "1s"
    with pytest.raises(ValueError, match="unsupported"):
        scaled_duration("1h30m", 1 / 60)


def test_every_range_and_for_is_compressed_and_nothing_else_changes(tmp_path: Path) -> None:
    written = [Path(path) for path in write_scaled_rules(rule_files(), tmp_path, 1 / 60)]
    original, scaled = rules(), rules(written)
    assert len(scaled) == len(original)
    for before, after in zip(original, scaled, strict=True):
        assert re.findall(r"\[(\d+)[mhd]\]", after["expr"]) == []
        assert after["expr"].count("[") == before["expr"].count("[")
        assert {key: value for key, value in after.items() if key not in ("expr", "for")} == {
            key: value for key, value in before.items() if key not in ("expr", "for")
        }
        if "for" in before:
            assert after["for"].endswith("s")
    alerts = {rule["alert"]: rule for rule in scaled if "alert" in rule}
    assert alerts["TargetDown"]["for"] == "2s"
    assert [path.name for path in written] == [Path(path).name for path in rule_files()]
    assert load_yaml(written[0])["groups"]


@pytest.mark.prometheus
def test_the_scaled_rules_pass_promtool(tmp_path: Path) -> None:
    for path in write_scaled_rules(rule_files(), tmp_path, 1 / 60):
        result = run_promtool("check", "rules", path)
        assert result.returncode == 0, result.stdout + result.stderr
