"""otel_stack/deploy/prometheus_config.py and the committed prometheus/prometheus.yml."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from otel_stack.deploy import prometheus_config
from otel_stack.harness import local_prometheus
from tests.deploy.stack_files import PROMETHEUS_DIR, RULES_DIR, run_promtool

RULE_FILE_COUNT = len(list(RULES_DIR.glob("*.yml")))


def _assert_promtool_accepts(config: Path) -> None:
    result = run_promtool("check", "config", str(config))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The rule files were found and checked too, not silently matched by nothing.
    assert f"SUCCESS: {RULE_FILE_COUNT} rule files found" in output, output


def test_committed_config_is_the_rendered_compose_config() -> None:
    committed = (PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8")
    assert committed == prometheus_config.render_compose(), (
        "prometheus/prometheus.yml is stale: run `make prometheus-config`"
    )


def test_write_compose_config_writes_the_rendered_compose_config(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    prometheus_config.write_compose_config(path)
    assert path.read_text(encoding="utf-8") == prometheus_config.render_compose()


@pytest.mark.prometheus
def test_compose_config_passes_promtool_with_its_rule_files(tmp_path: Path) -> None:
    """Laid out as in the container: the config, and rules/ beside it."""
    prometheus_config.write_compose_config(tmp_path / "prometheus.yml")
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    _assert_promtool_accepts(tmp_path / "prometheus.yml")


@pytest.mark.prometheus
def test_committed_config_passes_promtool_in_the_repository() -> None:
    _assert_promtool_accepts(PROMETHEUS_DIR / "prometheus.yml")


@pytest.mark.prometheus
def test_local_config_passes_promtool_with_absolute_rule_paths(tmp_path: Path) -> None:
    """As `otel-stack up` writes it: local ports, 5 s scrapes, the repository's rule files."""
    text = prometheus_config.render(
        prometheus_config.local_targets(18080, 18000),
        scrape_interval="5s",
        rule_files=[str(path) for path in sorted(RULES_DIR.glob("*.yml"))],
        alertmanagers=["127.0.0.1:19093"],
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(text, encoding="utf-8")
    _assert_promtool_accepts(config)


def test_render_makes_one_metrics_job_per_target_group() -> None:
    targets = {"web-gateway": ["a:1", "b:2"], "order-api": ["c:3"]}
    config = yaml.safe_load(prometheus_config.render(targets))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == ["web-gateway", "order-api"]
    assert jobs["web-gateway"]["static_configs"] == [{"targets": ["a:1", "b:2"]}]
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())


def test_only_the_collector_exporter_job_honors_labels() -> None:
    config = yaml.safe_load(prometheus_config.render(prometheus_config.compose_targets()))
    honoring = [job["job_name"] for job in config["scrape_configs"] if job.get("honor_labels")]
    assert honoring == ["otel-collector"]


def test_compose_targets_scrape_both_services_the_collector_and_prometheus() -> None:
    assert prometheus_config.compose_targets() == {
        "web-gateway": ["web-gateway:8080"],
        "order-api": ["order-api-1:8000", "order-api-2:8000"],
        "otel-collector": ["otel-collector:8889"],
        "otel-collector-internal": ["otel-collector:8888"],
        "prometheus": ["localhost:9090"],
    }


def test_the_otlp_receiver_settings_promote_attributes_and_allow_late_samples() -> None:
    config = yaml.safe_load(prometheus_config.render({}, otlp_receiver=True))
    assert config["otlp"] == {
        "promote_resource_attributes": [
            "deployment.environment.name",
            "k8s.namespace.name",
            "service.version",
        ],
        "keep_identifying_resource_attributes": True,
    }
    assert config["storage"] == {"tsdb": {"out_of_order_time_window": "30m"}}


def test_without_the_otlp_receiver_there_are_no_otlp_settings() -> None:
    config = yaml.safe_load(prometheus_config.render({}))
    assert "otlp" not in config and "storage" not in config


def test_the_compose_prometheus_receives_otlp() -> None:
    config = yaml.safe_load(prometheus_config.render_compose())
    assert config["otlp"] == prometheus_config.otlp_settings()["otlp"]


def test_compose_config_sends_alerts_to_the_compose_alertmanager() -> None:
    config = yaml.safe_load(prometheus_config.render_compose())
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]
    }


def test_without_alertmanagers_there_is_no_alerting_section() -> None:
    assert "alerting" not in yaml.safe_load(prometheus_config.render({}))


def test_local_targets_are_on_loopback() -> None:
    assert prometheus_config.local_targets(9001, 9002) == {
        "web-gateway": ["127.0.0.1:9001"],
        "order-api": ["127.0.0.1:9002"],
    }


def test_evaluation_interval_defaults_to_the_scrape_interval() -> None:
    config = yaml.safe_load(prometheus_config.render({}, scrape_interval="5s"))
    assert config["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}
    config = yaml.safe_load(
        prometheus_config.render({}, scrape_interval="5s", evaluation_interval="30s")
    )
    assert config["global"]["evaluation_interval"] == "30s"


def test_default_rule_files_are_relative_to_the_config_file() -> None:
    config = yaml.safe_load(prometheus_config.render(prometheus_config.compose_targets()))
    assert config["rule_files"] == ["rules/*.yml"]
    assert (PROMETHEUS_DIR / "prometheus.yml").parent / "rules" == RULES_DIR


@pytest.mark.prometheus
def test_file_sd_config_and_targets_pass_promtool(tmp_path: Path) -> None:
    """As `otel-stack up --replicas` writes it: every job discovered from a file_sd file."""
    targets = {"web-gateway": ["127.0.0.1:18080", "127.0.0.1:18081"], "order-api": ["c:3"]}
    config_path = local_prometheus.write_config(tmp_path, targets)

    _assert_promtool_accepts(config_path)
    config = yaml.safe_load(config_path.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway_file = jobs["web-gateway"]["file_sd_configs"][0]["files"][0]
    assert "static_configs" not in jobs["web-gateway"]
    assert json.loads(Path(gateway_file).read_text()) == [
        {"targets": ["127.0.0.1:18080", "127.0.0.1:18081"], "labels": {}}
    ]


def test_rewriting_targets_replaces_the_file_whole(tmp_path: Path) -> None:
    local_prometheus.write_targets(tmp_path, {"order-api": ["a:1", "b:2", "c:3"]})
    local_prometheus.write_targets(tmp_path, {"order-api": ["a:1"]})

    path = prometheus_config.file_sd_path(local_prometheus.targets_dir(tmp_path), "order-api")
    assert json.loads(path.read_text()) == [{"targets": ["a:1"], "labels": {}}]
    assert sorted(p.name for p in path.parent.iterdir()) == ["order-api.json"]


def test_repository_rules_are_the_rules_the_package_ships() -> None:
    assert RULES_DIR.resolve() == local_prometheus.rules_dir().resolve()
    assert local_prometheus.rule_files() == [
        str(local_prometheus.rules_dir() / path.name) for path in sorted(RULES_DIR.glob("*.yml"))
    ]


def test_collector_path_jobs_are_the_compose_collector_jobs() -> None:
    compose = prometheus_config.compose_targets()
    jobs = prometheus_config.collector_targets(
        *compose[prometheus_config.COLLECTOR_JOB],
        *compose[prometheus_config.COLLECTOR_INTERNAL_JOB],
    )
    assert jobs == {job: compose[job] for job in jobs}
    rendered = yaml.safe_load(prometheus_config.render(jobs))["scrape_configs"]
    honoring = {job["job_name"] for job in rendered if job.get("honor_labels")}
    assert honoring == {prometheus_config.COLLECTOR_JOB}
