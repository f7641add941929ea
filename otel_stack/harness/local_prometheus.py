"""A local Prometheus for `otel-stack up`: its config, command line and readiness probe.

The configuration is rendered by `otel_stack.deploy.prometheus_config` for the
local ports (with the repository's alerting and recording rules, and the local
Alertmanager when one runs) and written into the data directory, next to the
TSDB. The binary is the tested release from the tool cache (`make prometheus`),
else a `prometheus` on PATH.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from otel_stack import data
from otel_stack.deploy import go_tools, prometheus_config
from otel_stack.harness.processes import ServiceSpec
from otel_stack.harness.prometheus_family import local_spec

NAME = "prometheus"
# Exemplars (trace ids on latency buckets) are kept only with this flag, in Prometheus 2 and 3;
# both ask targets for OpenMetrics first, the only format that carries exemplars.
FEATURE_FLAGS = ("--enable-feature=exemplar-storage",)
INSTALL_HINT = (
    "no local Prometheus: "
    f"{go_tools.build_hint(go_tools.PROMETHEUS)}, or apt-get install prometheus"
)


def find_binary() -> str | None:
    """The tested release if built, else `prometheus` on PATH, else None."""
    built = go_tools.find(go_tools.PROMETHEUS, "prometheus")
    return str(built) if built else shutil.which("prometheus")


def rules_dir() -> Path:
    """The folder of the project's rule files, wherever the package is installed."""
    return data.PROMETHEUS_RULES


def rule_files(folder: Path | None = None) -> list[str]:
    """Absolute paths of the project's rule files (`*.yml` in `rules_dir()` by default)."""
    return [str(path) for path in sorted((folder or rules_dir()).glob("*.yml"))]


def write_config(
    data_dir: Path,
    targets: Mapping[str, Sequence[str]],
    *,
    alertmanager_port: int | None = None,
    scrape_interval: str = "5s",
    rules: Sequence[str] | None = None,
    tls_configs: Mapping[str, Mapping[str, str]] | None = None,
    otlp_receiver: bool = False,
) -> Path:
    """Write the configuration and each job's file_sd targets into the data directory.

    Prometheus discovers the targets from `targets/<job>.json`; rewriting one
    (`write_targets`) adds or removes instances without restarting it. Alerts go to
    the local Alertmanager on `alertmanager_port` when given; `rules` defaults to the
    project's rule files; jobs in `tls_configs` are scraped over https.
    project's rule files. `otlp_receiver` adds the settings of a Prometheus the
    services push to (`prometheus_config.otlp_settings`).
    """
    text = prometheus_config.render(
        targets,
        scrape_interval=scrape_interval,
        rule_files=rule_files() if rules is None else rules,
        alertmanagers=[f"127.0.0.1:{alertmanager_port}"] if alertmanager_port else [],
        file_sd_dir=targets_dir(data_dir),
        tls_configs=tls_configs,
        otlp_receiver=otlp_receiver,
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


def spec(
    binary: str, data_dir: Path, *, port: int, config_path: Path, otlp_receiver: bool = False
) -> ServiceSpec:
    """How to run Prometheus on 127.0.0.1:`port` with its TSDB in the data directory.

    `otlp_receiver` enables the OTLP receiver (`prometheus_config.OTLP_RECEIVER_FLAGS`).
    """
    return local_spec(
        NAME,
        binary,
        data_dir,
        port=port,
        config_path=config_path,
        storage_flag=f"--storage.tsdb.path={data_dir / 'prometheus'}",
        flags=[
            *FEATURE_FLAGS,
            *(prometheus_config.OTLP_RECEIVER_FLAGS if otlp_receiver else ()),
        ],
    )
