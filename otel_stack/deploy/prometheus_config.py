"""The one source of Prometheus scrape configuration: for Docker Compose and for local runs.

`render` turns a map of job name to `host:port` targets (and the Alertmanagers
to notify) into prometheus.yml text; `compose_targets` and `local_targets` give
the two maps the project uses. The committed `prometheus/prometheus.yml` is
`render(compose_targets(), alertmanagers=COMPOSE_ALERTMANAGERS)`
(written by `write_compose_config`, or `make prometheus-config`), and a test
keeps the two from drifting apart. Rule files are found relative to the
config file, so one path serves both the repository (`prometheus/rules/`) and
the container (`/etc/prometheus/rules/`).

With `otlp_receiver`, the configuration is also that of a Prometheus started
with `--web.enable-otlp-receiver` (`OTLP_RECEIVER_FLAGS`): the `otlp:` block
(which resource attributes become labels, `target_info` keeping the identifying
ones), an out-of-order window for pushed samples, and a `prometheus` job
scraping Prometheus itself, whose `prometheus_*` metrics show what the receiver
accepted and refused. Pushed series get `job` from `service.name` (prefixed by
`service.namespace/` when set) and `instance` from `service.instance.id`.

With `file_sd_dir`, jobs are discovered instead of listed: each job reads
`<dir>/<job>.json` (written by `write_file_sd`), which Prometheus re-reads
when it changes, so replicas can come and go without a restart. The
`instance` label is each target's host:port.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

GATEWAY_JOB = "web-gateway"
ORDER_API_JOB = "order-api"
# Metrics the services push over OTLP, re-exposed by the collector's `prometheus` exporter.
COLLECTOR_JOB = "otel-collector"
# The collector's own telemetry.
COLLECTOR_INTERNAL_JOB = "otel-collector-internal"

# The order-api replicas of docker-compose.yml.
COMPOSE_ORDER_API_REPLICAS = ("order-api-1", "order-api-2")

METRICS_PATH = "/metrics"
DEFAULT_SCRAPE_INTERVAL = "15s"
DEFAULT_RULE_FILES = ("rules/*.yml",)
COMPOSE_ALERTMANAGERS = ("alertmanager:9093",)
# Jobs whose samples carry their own job/instance labels (set from the OTel resource).
DEFAULT_HONOR_LABELS_JOBS = (COLLECTOR_JOB,)
# Prometheus scraping itself (its OTLP receiver's metrics).
PROMETHEUS_JOB = "prometheus"
COMPOSE_PROMETHEUS = "localhost:9090"

# Prometheus 3's OTLP receiver: POST <prometheus>/api/v1/otlp/v1/metrics, OTLP/HTTP protobuf.
OTLP_RECEIVER_FLAGS = ("--web.enable-otlp-receiver",)
OTLP_METRICS_PATH = "/api/v1/otlp/v1/metrics"
# Resource attributes copied onto every pushed series as labels (dots become
# underscores: `deployment_environment_name`), when a service's resource has them.
# service.name and service.instance.id are already job and instance.
OTLP_PROMOTED_RESOURCE_ATTRIBUTES = (
    "deployment.environment.name",
    "k8s.namespace.name",
    "service.version",
)
# Pushed samples carry the sender's timestamps: a retried or delayed export may land
# behind newer samples of the same series, which Prometheus refuses outside this window.
OTLP_OUT_OF_ORDER_WINDOW = "30m"

HEADER = (
    "# Rendered by otel_stack.deploy.prometheus_config (make prometheus-config): do not edit.\n"
    "# A test fails when this file and the rendered configuration differ.\n"
)


def render(
    targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval: str = DEFAULT_SCRAPE_INTERVAL,
    evaluation_interval: str | None = None,
    rule_files: Sequence[str] = DEFAULT_RULE_FILES,
    honor_labels_jobs: Collection[str] = DEFAULT_HONOR_LABELS_JOBS,
    alertmanagers: Sequence[str] = (),
    file_sd_dir: Path | None = None,
    tls_configs: Mapping[str, Mapping[str, str]] | None = None,
    otlp_receiver: bool = False,
) -> str:
    """Return prometheus.yml text with one scrape job per entry of `targets`.

    `evaluation_interval` defaults to `scrape_interval`; relative `rule_files`
    are resolved by Prometheus against the config file's directory; alerts go
    to each `host:port` of `alertmanagers`. With `file_sd_dir`, each job
    discovers its targets from `file_sd_path(dir, job)` instead of listing
    `targets` (write them with `write_file_sd`). Jobs in `tls_configs` are
    scraped over https with that `tls_config` (`ca_file`, `cert_file`, `key_file`, …).
    `targets` (write them with `write_file_sd`). `otlp_receiver` adds the OTLP
    receiver's settings (see the module docstring); `targets` should then hold
    the `prometheus` job (Prometheus' own address).
    """
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
        },
    }
    if otlp_receiver:
        config |= otlp_settings()
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    config |= {
        "rule_files": list(rule_files),
        "scrape_configs": [
            _scrape_config(
                job,
                addresses,
                honor_labels=job in honor_labels_jobs,
                file_sd=None if file_sd_dir is None else file_sd_path(file_sd_dir, job),
                tls_config=(tls_configs or {}).get(job),
            )
            for job, addresses in targets.items()
        ],
    }
    return HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def otlp_settings() -> dict[str, Any]:
    """The `otlp:` block and the out-of-order window of a Prometheus receiving OTLP."""
    return {
        "storage": {"tsdb": {"out_of_order_time_window": OTLP_OUT_OF_ORDER_WINDOW}},
        "otlp": {
            "promote_resource_attributes": list(OTLP_PROMOTED_RESOURCE_ATTRIBUTES),
            # target_info keeps service.name/service.instance.id as labels, as on the
            # pull path, so joins on them work whichever way metrics arrived.
            "keep_identifying_resource_attributes": True,
        },
    }


def compose_targets() -> dict[str, list[str]]:
    """Scrape targets on the Docker Compose network (hostnames are compose service names)."""
    return {
        GATEWAY_JOB: ["web-gateway:8080"],
        # One target per replica: the instance label says which one.
        ORDER_API_JOB: [f"{name}:8000" for name in COMPOSE_ORDER_API_REPLICAS],
        COLLECTOR_JOB: ["otel-collector:8889"],
        COLLECTOR_INTERNAL_JOB: ["otel-collector:8888"],
        PROMETHEUS_JOB: [COMPOSE_PROMETHEUS],
    }


def local_targets(gateway_port: int, metrics_port: int) -> dict[str, list[str]]:
    """Scrape targets of the two services running on this machine's loopback interface."""
    return {
        GATEWAY_JOB: [f"127.0.0.1:{gateway_port}"],
        ORDER_API_JOB: [f"127.0.0.1:{metrics_port}"],
    }


def otlp_targets(prometheus: str) -> dict[str, list[str]]:
    """Scrape targets when the services push straight to Prometheus: only Prometheus itself."""
    return {PROMETHEUS_JOB: [prometheus]}


def collector_targets(exporter: str, telemetry: str) -> dict[str, list[str]]:
    """Scrape targets of the OTLP path: the collector's `prometheus` exporter and its own metrics.

    The jobs are those of the compose configuration, so series keep job = service.name.
    """
    return {COLLECTOR_JOB: [exporter], COLLECTOR_INTERNAL_JOB: [telemetry]}


def write_compose_config(path: Path) -> None:
    """Write the Compose configuration (the committed prometheus/prometheus.yml) to `path`."""
    path.write_text(render_compose(), encoding="utf-8")


def render_compose() -> str:
    """The Compose configuration: compose targets, rules, the compose Alertmanager."""
    return render(compose_targets(), alertmanagers=COMPOSE_ALERTMANAGERS, otlp_receiver=True)


def file_sd_path(directory: Path, job: str) -> Path:
    """The file_sd file a job's targets are discovered from."""
    return directory / f"{job}.json"


def write_file_sd(path: Path, addresses: Sequence[str]) -> None:
    """Write a file_sd target list atomically (Prometheus never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps([{"targets": list(addresses), "labels": {}}], indent=2) + "\n")
    partial.replace(path)


def tls_config(
    ca: Path, client_cert: Path | None = None, client_key: Path | None = None
) -> dict[str, str]:
    """A scrape job's `tls_config`: trust `ca`, present the client certificate when given."""
    config = {"ca_file": str(ca)}
    if client_cert is not None and client_key is not None:
        config |= {"cert_file": str(client_cert), "key_file": str(client_key)}
    return config


def _scrape_config(
    job: str,
    addresses: Sequence[str],
    *,
    honor_labels: bool,
    file_sd: Path | None = None,
    tls_config: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {"job_name": job, "metrics_path": METRICS_PATH}
    if tls_config is not None:
        config |= {"scheme": "https", "tls_config": dict(tls_config)}
    if honor_labels:
        config["honor_labels"] = True
    if file_sd is not None:
        config["file_sd_configs"] = [{"files": [str(file_sd)], "refresh_interval": "5s"}]
    else:
        config["static_configs"] = [{"targets": list(addresses)}]
    return config
