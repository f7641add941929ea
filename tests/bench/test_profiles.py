"""Suite 13's figures from several processes, combined."""

from __future__ import annotations

from bench.profiles import combined


def _run(unsampled_cpu: float, over: float) -> dict[str, dict[str, dict[str, float]]]:
    side = {
        "cpu_us": {"default": 300.0, "unsampled": unsampled_cpu},
        "over_default_us": {"unsampled": over},
    }
    return {"gateway": side, "rpc": side}


def test_processes_combine_into_medians_and_the_range_over_default() -> None:
    figures = combined([_run(340.0, 40.0), _run(320.0, 25.0), _run(330.0, 31.0)])
    assert figures["processes"] == 3
    assert figures["gateway"]["cpu_us"] == {"default": 300.0, "unsampled": 330.0}
    assert figures["gateway"]["over_default_us"] == {"unsampled": 31.0}
    assert figures["gateway"]["over_default_range_us"] == {"unsampled": [25.0, 40.0]}
