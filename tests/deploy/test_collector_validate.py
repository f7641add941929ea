"""The real collector (`otelcol-stack validate`) accepts collector-config.yaml and rejects errors.

The two broken configurations prove the check can fail: each is the project's
file with one change, and the collector's own message must name the mistake.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from otel_stack.harness.local_collector import CONFIG
from tests.support.tools import require_tool


def _validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(require_tool("collector"))), "validate", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = CONFIG.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "collector-config.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_the_projects_config_validates() -> None:
    result = _validate(CONFIG)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            "exporters:\n  prometheus:",
            "exporters:\n  kafka: {}\n  prometheus:",
            'unknown type: "kafka"',
            id="unknown-component",
        ),
        pytest.param(
            "check_interval: 1s",
            "check_intervall: 1s",
            "has invalid keys: check_intervall",
            id="wrong-field",
        ),
    ],
)
def test_a_broken_config_fails_with_the_collectors_message(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    result = _validate(_edited(tmp_path, old, new))
    assert result.returncode != 0
    assert message in result.stderr
