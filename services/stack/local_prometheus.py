"""A local Prometheus for `otel-stack up`: its config, command line and readiness probe.

The configuration is rendered by `services.stack.prometheus_config` for the
local ports (with the repository's alerting and recording rules) and written
into the data directory, next to the TSDB.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.stack import prometheus_config
from services.stack.processes import ServiceSpec
from services.stack.readiness import http_ok

NAME = "prometheus"
RULES_DIR = Path(__file__).resolve().parents[2] / "prometheus" / "rules"
INSTALL_HINT = (
    "prometheus is not on PATH, so no local Prometheus: "
    "apt-get install prometheus, or get it from https://prometheus.io/download/"
)


def find_binary() -> str | None:
    """The path of the `prometheus` binary, or None."""
    return shutil.which("prometheus")


def rule_files(rules_dir: Path = RULES_DIR) -> list[str]:
    """Absolute paths of the repository's rule files (prometheus/rules/*.yml)."""
    return [str(path) for path in sorted(rules_dir.glob("*.yml"))]


def write_config(data_dir: Path, targets: Mapping[str, Sequence[str]]) -> Path:
    """Write the scrape configuration and each job's file_sd targets into the data directory.

    Prometheus discovers the targets from `targets/<job>.json`; rewriting one
    (`write_targets`) adds or removes instances without restarting it.
    """
    text = prometheus_config.render(
        targets,
        scrape_interval="5s",
        rule_files=rule_files(),
        file_sd_dir=targets_dir(data_dir),
    )
    write_targets(data_dir, targets)
    path = data_dir / "prometheus.yml"
    path.write_text(text)
    return path


def targets_dir(data_dir: Path) -> Path:
    """Where the file_sd target files live."""
    return data_dir / "targets"


def write_targets(data_dir: Path, targets: Mapping[str, Sequence[str]]) -> None:
    """(Re)write the file_sd file of every job in `targets`."""
    for job, addresses in targets.items():
        path = prometheus_config.file_sd_path(targets_dir(data_dir), job)
        prometheus_config.write_file_sd(path, addresses)


def spec(binary: str, data_dir: Path, *, port: int, config_path: Path) -> ServiceSpec:
    """How to run Prometheus on 127.0.0.1:`port` with its TSDB in the data directory."""
    url = f"http://127.0.0.1:{port}"
    return ServiceSpec(
        name=NAME,
        command=[
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={data_dir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        env=dict(os.environ),
        log_path=data_dir / "prometheus.log",
        ready=lambda: http_ok(f"{url}/-/ready"),
        ready_description=f"GET {url}/-/ready answering 200",
        cwd=data_dir,
    )
