"""`.ci/run` and `.ci/cold`: CI requires every real component, and the cold run starts empty."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CI_RUN = REPO / ".ci" / "run"
CI_COLD = REPO / ".ci" / "cold"
# Everything the set-up reads that an earlier run could have filled.
CACHES = (
    "HOME",
    "XDG_CACHE_HOME",
    "UV_CACHE_DIR",
    "PIP_CACHE_DIR",
    "GOCACHE",
    "GOMODCACHE",
    "GOPATH",
    "OTEL_STACK_CACHE",
)


def _flags_read_by_tests() -> set[str]:
    flags: set[str] = set()
    for path in (REPO / "tests").rglob("*.py"):
        flags.update(re.findall(r"\bREQUIRE_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    return flags


def test_ci_run_requires_every_component_a_test_can_require() -> None:
    exported = set(re.findall(r"^export (REQUIRE_[A-Z_]+)=1$", CI_RUN.read_text(), re.MULTILINE))
    missing = _flags_read_by_tests() - exported
    assert not missing, f".ci/run does not export {sorted(missing)}: those tests could skip in CI"


def test_ci_run_runs_what_the_readme_tells_users_to_run() -> None:
    assert re.search(r"^make test$", CI_RUN.read_text(), re.MULTILINE)


def test_cold_run_points_every_cache_at_its_own_new_directory() -> None:
    text = CI_COLD.read_text(encoding="utf-8")
    for name in CACHES:
        assert re.search(rf'^\s+(?:env )?{name}="\$root/[a-z-]+" \\$', text, re.MULTILINE), name
    assert "CI=true bash .ci/run" in text
    assert "git clone" in text


def test_cold_run_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "left-over").write_text("from an earlier run")
    result = subprocess.run(
        ["bash", str(CI_COLD)],
        env={"COLD_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"ci-cold: {tmp_path} is not empty"
