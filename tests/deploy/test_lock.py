"""uv.lock: complete for pyproject.toml, and the hash-pinned exports the Dockerfile and make use."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "requirements"
# What `make lock` runs after `uv lock`: each export and the options that make it.
EXPORTS = {
    "runtime.txt": ("--no-dev",),
    "uv.txt": ("--only-group", "uv"),
}


def _run_uv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("uv"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _requirements_body(text: str) -> list[str]:
    """The requirement lines of an export, without its header (which names the command)."""
    return [line for line in text.splitlines() if not line.startswith("#    uv export")]


def test_lock_is_up_to_date_with_pyproject() -> None:
    result = _run_uv("lock", "--check", "--offline")
    assert result.returncode == 0, f"run `make lock`: {result.stderr.strip()}"


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_requirements_export_matches_the_lock(name: str, tmp_path: Path) -> None:
    exported = tmp_path / name
    options = EXPORTS[name]
    result = _run_uv(
        "export", "--quiet", "--frozen", *options, "--no-emit-project", "-o", str(exported)
    )
    assert result.returncode == 0, result.stderr
    committed = (REQUIREMENTS / name).read_text(encoding="utf-8")
    assert _requirements_body(committed) == _requirements_body(exported.read_text()), (
        f"requirements/{name} is stale: run `make lock`"
    )


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_exported_requirement_is_pinned_with_hashes(name: str) -> None:
    text = (REQUIREMENTS / name).read_text(encoding="utf-8")
    requirements = [line for line in text.splitlines() if line and line[0].isalnum()]
    assert requirements
    for line in requirements:
        assert "==" in line, line
        assert line.endswith("\\"), f"{line}: no --hash lines follow"


def _locked_version(lock_text: str, name: str) -> str:
    """The version uv.lock pins for `name`."""
    marker = f'name = "{name}"\nversion = "'
    start = lock_text.index(marker) + len(marker)
    return lock_text[start : lock_text.index('"', start)]


def test_lock_check_fails_when_pyproject_changes_a_locked_requirement(tmp_path: Path) -> None:
    """`uv lock --check` notices a changed requirement, whatever any cache holds.

    The change only raises waitress's lower bound to the version already locked, so
    nothing new is needed; uv still has to re-resolve, which offline and with an empty
    cache fails for want of index data, and online says the lock needs updating. Either
    way it first names the mismatch, and that line is what this test looks for.
    """
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    locked = _locked_version((tmp_path / "uv.lock").read_text(encoding="utf-8"), "waitress")
    assert '"waitress>=3.0.1"' in text
    pyproject.write_text(text.replace('"waitress>=3.0.1"', f'"waitress>={locked}"', 1))
    result = subprocess.run(
        [require_tool("uv"), "lock", "--check", "--offline", "--verbose"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "empty-cache")},
    )
    assert result.returncode != 0
    assert (
        "Resolving despite existing lockfile due to mismatched requirements for: "
        "`otel-python-microservices==0.1.0`" in result.stderr
    )


def test_lock_check_passes_with_an_empty_cache(tmp_path: Path) -> None:
    """The unchanged lock is checked from the lock alone: no cache, no network."""
    result = subprocess.run(
        [require_tool("uv"), "lock", "--check", "--offline"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "empty-cache")},
    )
    assert result.returncode == 0, result.stderr


def test_the_image_installs_runtime_dependencies_from_the_lock_with_hash_checking() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes --no-deps -r requirements/runtime.txt" in dockerfile
    assert "pip install --no-deps ." in dockerfile


def test_make_installs_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "$(UV) sync --quiet --frozen" in makefile
    assert "--require-hashes" in makefile
    assert "pip install -e" not in makefile
