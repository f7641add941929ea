"""docker-compose.yml (and the image it builds): valid, private, pinned, consistent with the rest.

There is no Docker engine in CI: the file is validated against the Compose
specification, and every address in it is checked against the file that must
agree with it (scrape targets, collector endpoints, Grafana data sources).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_stack.cli.parsers import build_parser
from otel_stack.deploy import prometheus_config
from otel_stack.harness.load import MAX_DURATION_SECONDS
from otel_stack.harness.local_prometheus import FEATURE_FLAGS
from tests.deploy.stack_files import (
    COMPOSE_FILE,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    PROMETHEUS_DIR,
    REPO,
    bind_mounts,
    collector_config,
    collector_service,
    compose,
    compose_env,
    compose_service,
    load_yaml,
    split_host_port,
)

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
ORDER_API_REPLICAS = prometheus_config.COMPOSE_ORDER_API_REPLICAS
APP_SERVICES = (*ORDER_API_REPLICAS, "web-gateway")


def _services() -> dict[str, Any]:
    services: dict[str, Any] = compose()["services"]
    return services


def _published_ports() -> list[tuple[str, Any]]:
    return [
        (name, port) for name, service in _services().items() for port in service.get("ports", [])
    ]


def _scrape_target(job: str) -> tuple[str, int]:
    (target,) = prometheus_config.compose_targets()[job]
    return split_host_port(target)


def _container_ports(service: str) -> set[int]:
    """Ports a service listens on inside the network: published or exposed."""
    ports = {
        int(str(port).rsplit(":", 1)[-1]) for port in compose_service(service).get("ports", [])
    }
    return ports | {int(port) for port in compose_service(service).get("expose", [])}


def test_compose_file_matches_the_compose_specification() -> None:
    if not CHECK_JSONSCHEMA.exists():
        pytest.fail(f"{CHECK_JSONSCHEMA} missing: install the dev extra (pip install -e '.[dev]')")
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_published_port_is_bound_to_loopback() -> None:
    ports = _published_ports()
    assert ports
    for service, port in ports:
        assert isinstance(port, str), (service, "use the HOST_IP:HOST:CONTAINER string form")
        assert port.startswith("127.0.0.1:") and port.count(":") == 2, (service, port)


def test_every_image_is_pinned_by_a_tag_other_than_latest() -> None:
    for name, service in _services().items():
        image = service["image"]
        _, _, tag = image.rpartition(":")
        assert "/" not in tag and tag not in ("", "latest"), (name, image)


def test_app_services_are_built_from_the_repository_dockerfile() -> None:
    for name in (*APP_SERVICES, "loadgen"):
        assert compose_service(name)["build"] == ".", name
    assert (REPO / "Dockerfile").exists()


def test_bind_mounted_files_exist_in_the_repository() -> None:
    for name in _services():
        for target, source in bind_mounts(name).items():
            assert (REPO / source).exists(), (name, source, target)


def test_gateway_listens_where_prometheus_scrapes_it() -> None:
    host, port = _scrape_target(prometheus_config.GATEWAY_JOB)
    assert host == "web-gateway" and host in _services()
    assert split_host_port(compose_env("web-gateway")["GATEWAY_LISTEN"]) == ("0.0.0.0", port)


def test_prometheus_scrapes_every_order_api_replica_where_its_metrics_listen() -> None:
    targets = [
        split_host_port(target)
        for target in prometheus_config.compose_targets()[prometheus_config.ORDER_API_JOB]
    ]
    assert [host for host, _ in targets] == list(ORDER_API_REPLICAS)
    for host, port in targets:
        env = compose_env(host)
        assert env["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"
        assert int(env["OTEL_EXPORTER_PROMETHEUS_PORT"]) == port


def test_gateway_balances_by_dns_over_the_alias_every_replica_carries() -> None:
    for name in ORDER_API_REPLICAS:
        _, listen_port = split_host_port(compose_env(name)["ORDER_API_LISTEN"])
        assert compose_env("web-gateway")["ORDER_API_TARGET"] == f"dns:///order-api:{listen_port}"
        assert "order-api" in compose_service(name)["networks"]["default"]["aliases"]


def test_each_replica_has_its_own_instance_id() -> None:
    ids = [compose_env(name)["OTEL_RESOURCE_ATTRIBUTES"] for name in ORDER_API_REPLICAS]
    assert ids == [f"service.instance.id={name}" for name in ORDER_API_REPLICAS]


def test_replicas_share_the_postgres_service_and_wait_for_it() -> None:
    postgres = compose_service("postgres")
    env = postgres["environment"]
    url = f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/"
    for name in ORDER_API_REPLICAS:
        assert compose_env(name)["ORDER_API_DB"] == url + env["POSTGRES_DB"]
        assert compose_service(name)["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "ports" not in postgres


def test_service_names_are_the_prometheus_job_names() -> None:
    """Pushed through the collector, a series' job is service.name: it must match the scrape job."""
    for name in ORDER_API_REPLICAS:
        assert compose_env(name)["OTEL_SERVICE_NAME"] == prometheus_config.ORDER_API_JOB
    assert compose_env("web-gateway")["OTEL_SERVICE_NAME"] == prometheus_config.GATEWAY_JOB


def test_services_send_otlp_to_the_collectors_grpc_receiver() -> None:
    collector = collector_service()
    grpc = collector_config()["receivers"]["otlp"]["protocols"]["grpc"]
    _, receiver_port = split_host_port(grpc["endpoint"])
    for name in APP_SERVICES:
        endpoint = compose_env(name)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == f"http://{collector}:{receiver_port}", name


def test_services_default_to_the_prometheus_exporter_and_trace_over_otlp() -> None:
    for name in APP_SERVICES:
        env = compose_env(name)
        assert env["OTEL_METRICS_EXPORTER"] == "${OTEL_METRICS_EXPORTER:-prometheus}", name
        assert env["OTEL_TRACES_EXPORTER"] == "otlp", name


def test_collector_scrape_targets_are_the_collector_service() -> None:
    collector = collector_service()
    for job in (prometheus_config.COLLECTOR_JOB, prometheus_config.COLLECTOR_INTERNAL_JOB):
        host, _ = _scrape_target(job)
        assert host == collector, job


def test_collector_reads_the_mounted_config() -> None:
    service = compose_service(collector_service())
    mounts = bind_mounts(collector_service())
    (config_arg,) = service["command"]
    assert mounts[config_arg.removeprefix("--config=")] == "./collector-config.yaml"


def test_prometheus_mounts_its_config_and_the_rules_its_rule_files_name() -> None:
    service = compose_service("prometheus")
    mounts = bind_mounts("prometheus")
    config_flag = next(arg for arg in service["command"] if arg.startswith("--config.file="))
    config_path = config_flag.removeprefix("--config.file=")
    assert mounts[config_path] == "./prometheus/prometheus.yml"
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    for pattern in config["rule_files"]:
        rules_dir = str(Path(config_path).parent / Path(pattern).parent)
        assert mounts[rules_dir] == "./prometheus/rules", pattern


def test_grafana_datasources_point_at_the_compose_services() -> None:
    sources = {source["uid"]: source for source in load_yaml(DATASOURCES)["datasources"]}
    assert set(sources) == {"prometheus", "jaeger", "loki"}
    for uid, service in (("prometheus", "prometheus"), ("jaeger", "jaeger"), ("loki", "loki")):
        host, port = split_host_port(sources[uid]["url"])
        assert host == service and port in _container_ports(service), uid


def _datasources() -> dict[str, Any]:
    return {source["uid"]: source for source in load_yaml(DATASOURCES)["datasources"]}


def test_prometheus_exemplars_link_to_the_trace_in_jaeger() -> None:
    (destination,) = _datasources()["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert destination == {"name": "trace_id", "datasourceUid": "jaeger"}


def test_loki_lines_link_their_trace_id_to_jaeger_and_jaeger_links_back() -> None:
    sources = _datasources()
    (field,) = sources["loki"]["jsonData"]["derivedFields"]
    assert field["matcherType"] == "label" and field["matcherRegex"] == "trace_id"
    assert field["datasourceUid"] == "jaeger"
    # Provisioning files expand `$VAR`; `$$` keeps the literal `$` of Grafana's own variables.
    assert field["url"] == "$${__value.raw}"
    to_logs = sources["jaeger"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    assert '"$${__trace.traceId}"' in to_logs["query"]
    assert to_logs["tags"] == [{"key": "service.name", "value": "service_name"}]


def test_prometheus_keeps_exemplars_like_the_local_one() -> None:
    command = compose_service("prometheus")["command"]
    assert set(FEATURE_FLAGS) <= set(command)


def test_prometheus_receives_otlp_from_the_collector_when_chosen() -> None:
    command = compose_service("prometheus")["command"]
    assert set(prometheus_config.OTLP_RECEIVER_FLAGS) <= set(command)
    environment = compose_service("otel-collector")["environment"]
    assert environment["OTELCOL_METRICS_EXPORTER"] == "${OTELCOL_METRICS_EXPORTER:-prometheus}"


def test_services_pass_on_the_histogram_aggregation_explicit_by_default() -> None:
    for name in APP_SERVICES:
        value = compose_env(name)["OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"]
        assert value == (
            "${OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION:-explicit_bucket_histogram}"
        ), name


def test_services_export_their_logs_over_otlp() -> None:
    for name in APP_SERVICES:
        assert compose_env(name)["OTEL_LOGS_EXPORTER"] == "otlp", name


def test_grafana_time_interval_is_the_scrape_interval() -> None:
    (prometheus,) = [s for s in load_yaml(DATASOURCES)["datasources"] if s["uid"] == "prometheus"]
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    assert prometheus["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]


def test_grafana_mounts_provisioning_and_the_dashboards_its_provider_reads() -> None:
    mounts = bind_mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"


def test_jaeger_listens_for_otlp_where_the_collector_sends() -> None:
    exporter = collector_config()["exporters"]["otlp_grpc/jaeger"]
    host, port = split_host_port(exporter["endpoint"])
    assert host == "jaeger" and port in _container_ports("jaeger")


def test_depends_on_service_healthy_only_on_services_with_a_healthcheck() -> None:
    for name, service in _services().items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in _services(), (name, dependency)
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in compose_service(dependency), (name, dependency)


def test_web_gateway_waits_for_healthy_order_api_replicas() -> None:
    depends_on = compose_service("web-gateway")["depends_on"]
    for name in ORDER_API_REPLICAS:
        assert depends_on[name] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_python_healthchecks_compile_and_probe_the_health_port(name: str) -> None:
    test = compose_service(name)["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    ast.parse(test[3])
    # The gateway's probes use its health-only listener, which a connection flood cannot fill.
    variable = "GATEWAY_HEALTH_LISTEN" if name == "web-gateway" else "ORDER_API_LISTEN"
    _, port = split_host_port(compose_env(name)[variable])
    assert f"localhost:{port}" in test[3]


def test_loadgen_command_is_accepted_by_the_load_cli_and_targets_the_gateway() -> None:
    service = compose_service("loadgen")
    assert service["entrypoint"] == ["python", "-m", "otel_stack"]
    args = build_parser().parse_args(service["command"])
    assert args.subcommand == "load"
    assert args.allow_remote
    _, gateway_port = split_host_port(compose_env("web-gateway")["GATEWAY_LISTEN"])
    assert args.target == f"http://web-gateway:{gateway_port}"
    assert 0 < args.duration <= MAX_DURATION_SECONDS
    assert compose_service("loadgen")["depends_on"]["web-gateway"]["condition"] == (
        "service_healthy"
    )


def test_named_volumes_are_declared() -> None:
    declared = set(compose()["volumes"])
    used = {
        volume.split(":")[0]
        for service in _services().values()
        for volume in service.get("volumes", [])
        if not volume.startswith(("./", "/"))
    }
    assert (
        used
        == declared
        == {
            "postgres-data",
            "prometheus-data",
            "alertmanager-data",
            "loki-data",
        }
    )


def test_dockerfile_runs_the_launcher_as_a_non_root_user() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert 'ENTRYPOINT ["opentelemetry-instrument", "python", "-m"]' in final_stage
    assert 'CMD ["services.web_gateway"]' in final_stage
    assert "USER app" in final_stage
    for setting in ("OTEL_PYTHON_DISTRO=otel_stack", "OTEL_PYTHON_CONFIGURATOR=otel_stack"):
        assert setting in final_stage
    assert "PYTHONUNBUFFERED=1" in final_stage


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    allowed = {
        line.removeprefix("!")
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    copied = {
        source
        for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    linked = {
        str(link.resolve().relative_to(REPO))
        for link in (REPO / "otel_stack" / "data").iterdir()
        if link.is_symlink()
    }
    packages = {"services", "otel", "otel_stack"}
    assert copied == {"pyproject.toml", "README.md", "requirements/runtime.txt"} | packages | linked
    assert copied <= allowed


def test_services_can_use_the_example_configuration_files() -> None:
    # Unset OTEL_CONFIG_FILE leaves it empty (the variables decide); any example named
    # /etc/otel/<file> is there, and builds (tests/otel/test_config_file.py).
    examples = sorted(path.name for path in (REPO / "config" / "otel").glob("*.yaml"))
    assert examples == ["exponential.yaml", "otlp.yaml", "prometheus.yaml"]
    for name in APP_SERVICES:
        assert compose_env(name)["OTEL_CONFIG_FILE"] == "${OTEL_CONFIG_FILE:-}", name
        assert bind_mounts(name)["/etc/otel"] == "./config/otel", name
