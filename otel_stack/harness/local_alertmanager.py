"""A local Alertmanager for `otel-stack up` and the tests: its config, command line and readiness.

The routing, grouping and inhibition are the committed
`alertmanager/alertmanager.yml`, the one source; the local copy written into
the data directory differs only in where the webhooks go: inline URLs (from
ALERT_PAGE_WEBHOOK_URL / ALERT_TICKET_WEBHOOK_URL, else the local alert sink)
instead of the compose secret files, and for tests, shorter timings.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from otel_stack import data
from otel_stack.deploy import go_tools
from otel_stack.harness.processes import ServiceSpec
from otel_stack.harness.prometheus_family import local_spec

NAME = "alertmanager"
CONFIG_PATH = data.ALERTMANAGER_CONFIG
RECEIVERS = ("page", "ticket")
URL_VARIABLES = {"page": "ALERT_PAGE_WEBHOOK_URL", "ticket": "ALERT_TICKET_WEBHOOK_URL"}
# Debian's package names the binary prometheus-alertmanager.
PATH_NAMES = ("alertmanager", "prometheus-alertmanager")
INSTALL_HINT = (
    "no local Alertmanager: "
    f"{go_tools.build_hint(go_tools.ALERTMANAGER)}, or apt-get install prometheus-alertmanager"
)
HEADER = "# Rendered by otel_stack.harness.local_alertmanager from alertmanager/alertmanager.yml.\n"


def find_binary() -> str | None:
    """The tested release if built, else an Alertmanager on PATH, else None."""
    built = go_tools.find(go_tools.ALERTMANAGER, "alertmanager")
    if built:
        return str(built)
    return next(filter(None, (shutil.which(name) for name in PATH_NAMES)), None)


def webhook_urls(
    sink_urls: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """Each receiver's URL: its ALERT_*_WEBHOOK_URL variable if set, else the sink's."""
    return {
        receiver: environ.get(URL_VARIABLES[receiver]) or sink_urls[receiver]
        for receiver in RECEIVERS
    }


def render(
    urls: Mapping[str, str],
    *,
    timings: Mapping[str, str] | None = None,
    source: Path = CONFIG_PATH,
) -> str:
    """The committed config with inline webhook URLs (and top-level route `timings`, if given)."""
    config: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook.pop("url_file", None)
            webhook["url"] = urls[receiver["name"]]
    if timings:
        config["route"].update(timings)
    return HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def write_config(data_dir: Path, text: str) -> Path:
    """Write the config into the data directory, readable by this user only (it holds URLs)."""
    path = data_dir / "alertmanager.yml"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")
    return path


def spec(binary: str, data_dir: Path, *, port: int, config_path: Path) -> ServiceSpec:
    """How to run Alertmanager on 127.0.0.1:`port`, alone (no cluster port), state in data_dir."""
    return local_spec(
        NAME,
        binary,
        data_dir,
        port=port,
        config_path=config_path,
        storage_flag=f"--storage.path={data_dir / 'alertmanager'}",
        flags=["--cluster.listen-address="],
    )
