"""The built wheel, installed into a fresh venv, runs `otel-stack up` with its Prometheus rules.

Only the project's own wheel is installed (offline, `--no-deps`); the new venv
reaches the dependencies of this one through a `.pth` line, which does not
activate this venv's editable install of the project. So everything the
command imports of the project, and the rule files it loads, come from the
wheel, as in a container image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from otel_stack.harness.child_environ import child_environ
from tests.otel_stack.cli.stack_run import UpPorts, processes_using, up_command
from tests.support import REPO
from tests.support.tools import require_tool

LAUNCHER = "opentelemetry-instrument"
PIP = (sys.executable, "-m", "pip", "--quiet")
OFFLINE = ("--no-deps", "--no-index")
# What a checkout holds besides the sources: never part of a build.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@dataclass(frozen=True)
class InstalledRun:
    """An `otel-stack up --duration 5` of the installed wheel."""

    result: subprocess.CompletedProcess[str]
    site_packages: Path
    data_dir: Path


def _build_wheel(directory: Path) -> Path:
    source = directory / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES, symlinks=True)
    subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-build-isolation",
            *OFFLINE,
            "-w",
            str(directory / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = (directory / "dist").glob("*.whl")
    return wheel


def _fresh_venv(directory: Path) -> tuple[Path, Path]:
    """A venv without pip whose site-packages also sees this venv's dependencies."""
    root = directory / "venv"
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site_packages / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python, site_packages


def _add_launcher(python: Path) -> None:
    """The launcher script pip would have written had the dependencies been installed here."""
    (entry_point,) = metadata.entry_points(group="console_scripts", name=LAUNCHER)
    script = python.parent / LAUNCHER
    script.write_text(
        f"#!{python}\nimport sys\nfrom {entry_point.module} import {entry_point.attr}\n"
        f"sys.exit({entry_point.attr}())\n"
    )
    script.chmod(0o755)


@pytest.fixture(scope="module")
def installed_run(tmp_path_factory: pytest.TempPathFactory) -> InstalledRun:
    require_tool("prometheus")
    directory = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(directory)
    python, site_packages = _fresh_venv(directory)
    subprocess.run(
        [*PIP, "--python", str(python), "install", *OFFLINE, str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    _add_launcher(python)
    data_dir = directory / "stack"
    up_arguments = up_command(UpPorts.free(), data_dir, "--duration", "5", "--refresh", "1")[3:]
    result = subprocess.run(
        [str(python.parent / "otel-stack"), *up_arguments],
        cwd=directory,  # not the checkout: nothing may be imported from it
        env=child_environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return InstalledRun(result, site_packages, data_dir)


def test_installed_otel_stack_up_runs_to_its_end(installed_run: InstalledRun) -> None:
    result = installed_run.result
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prometheus ready in" in result.stdout
    assert "duration of 5s reached" in result.stdout
    assert processes_using(installed_run.data_dir) == []


def test_prometheus_loads_the_rules_shipped_in_the_wheel(installed_run: InstalledRun) -> None:
    config = yaml.safe_load((installed_run.data_dir / "prometheus.yml").read_text())
    rule_files = [Path(path) for path in config["rule_files"]]
    assert sorted(path.name for path in rule_files) == ["alerts.yml", "native.yml", "recording.yml"]
    for path in rule_files:
        assert path.is_file() and path.is_relative_to(installed_run.site_packages), path


def test_the_services_ran_from_the_wheel(installed_run: InstalledRun) -> None:
    for log in ("order-api.log", "web-gateway.log"):
        assert "Traceback" not in (installed_run.data_dir / log).read_text()
    assert not (
        installed_run.site_packages / "__editable__.otel_python_microservices-0.1.0.pth"
    ).exists()
    assert (installed_run.site_packages / "otel_stack" / "cli" / "up.py").is_file()
