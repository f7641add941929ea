"""Helpers of the stack-file tests: repository paths, YAML loading, promtool, compose lookups."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from otel_stack.harness import local_collector
from tests.support.prometheus import promtool

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_MANIFEST = local_collector.MANIFEST

PROMETHEUS_DIR = REPO / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
COMPOSE_FILE = REPO / "docker-compose.yml"
COLLECTOR_CONFIG = REPO / "collector-config.yaml"
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources" / "datasources.yml"
DASHBOARD_PROVIDERS = REPO / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
DASHBOARDS_DIR = REPO / "grafana" / "dashboards"
ALERTS_DOC = REPO / "docs" / "alerts.md"
ALERTMANAGER_CONFIG = REPO / "alertmanager" / "alertmanager.yml"


def load_yaml(path: Path) -> Any:
    """Parse one YAML document."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(rule_files: list[Path] | None = None) -> list[dict[str, Any]]:
    """Every recording and alerting rule of the repository's rule files."""
    return [
        rule
        for path in rule_files or sorted(RULES_DIR.glob("*.yml"))
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    ]


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of prometheus/rules/."""
    return [rule for rule in rules() if "alert" in rule]


def collector_config() -> dict[str, Any]:
    """collector-config.yaml as the compose collector reads it (no OTELCOL_* variable set)."""
    config: dict[str, Any] = yaml.safe_load(
        local_collector.with_env_defaults(COLLECTOR_CONFIG.read_text(encoding="utf-8"))
    )
    return config


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool (skipping without it, failing in CI) and return its result."""
    return promtool(*args, cwd=cwd)


def split_host_port(address: str) -> tuple[str, int]:
    """("host", port) of "host:port" or of a URL such as "http://host:port/path"."""
    authority = address.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = authority.rpartition(":")
    return host, int(port)


def compose() -> dict[str, Any]:
    """The parsed docker-compose.yml."""
    document: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return document


def compose_service(name: str) -> dict[str, Any]:
    """One service of docker-compose.yml."""
    service: dict[str, Any] = compose()["services"][name]
    return service


def compose_env(name: str) -> dict[str, str]:
    """The environment of one compose service (mapping syntax), values as strings."""
    return {key: str(value) for key, value in compose_service(name)["environment"].items()}


def bind_mounts(name: str) -> dict[str, str]:
    """Bind mounts of one compose service: container path -> repository-relative source."""
    mounts: dict[str, str] = {}
    for volume in compose_service(name).get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source
    return mounts


def collector_service() -> str:
    """The name of the compose service that runs the OpenTelemetry Collector."""
    for name, service in compose()["services"].items():
        if str(service.get("image", "")).startswith("otel/opentelemetry-collector"):
            return str(name)
    raise AssertionError("no OpenTelemetry Collector service in docker-compose.yml")
