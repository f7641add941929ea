"""collector-config.yaml: complete pipelines, exactly the manifest's components, endpoints.

The real collector checks the file too (`validate`, in tests/deploy/); these tests
say what the project expects of it. Values are read with every `${env:…:-default}`
at its default, which is what the compose collector sees.
"""

from __future__ import annotations

from typing import Any

import pytest

from otel_stack.deploy import prometheus_config
from otel_stack.harness import local_collector as collector
from otel_stack.harness.local_collector import BUILDER_VERSION
from tests.deploy.stack_files import (
    COLLECTOR_MANIFEST,
    collector_config,
    collector_service,
    compose_env,
    compose_service,
    load_yaml,
    split_host_port,
)

PIPELINE_KINDS = ("receivers", "processors", "exporters")
MODULE_TYPES = {"otlpexporter": "otlpgrpc"}
KIND_SUFFIXES = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "extensions": "extension",
    "connectors": "connector",
}


def _config() -> dict[str, Any]:
    return collector_config()


def _used(kind: str) -> set[str]:
    pipelines = _config()["service"]["pipelines"].values()
    return {name for pipeline in pipelines for name in pipeline.get(kind, [])}


def _manifest_types(kind: str) -> set[str]:
    """Component types of one kind in the build manifest, without underscores.

    The manifest lists Go modules (".../processor/memorylimiterprocessor v0.165.0");
    a type is the module's last path element less its kind ("memorylimiter"), which
    is the type name without underscores ("memory_limiter"). The otlp exporter's
    module keeps its old name: its type is `otlp_grpc`.
    """
    manifest = load_yaml(COLLECTOR_MANIFEST)
    suffix = KIND_SUFFIXES[kind]
    types = set()
    for entry in manifest.get(kind, []):
        module = entry["gomod"].split()[0].rsplit("/", 1)[-1]
        types.add(MODULE_TYPES.get(module, module.removesuffix(suffix)))
    return types


def _component_type(name: str) -> str:
    return name.split("/", 1)[0]


@pytest.mark.parametrize("kind", PIPELINE_KINDS)
def test_every_component_in_a_pipeline_is_defined(kind: str) -> None:
    defined = set(_config().get(kind) or {})
    assert _used(kind) <= defined, _used(kind) - defined


@pytest.mark.parametrize("kind", PIPELINE_KINDS)
def test_every_defined_component_is_used_in_a_pipeline(kind: str) -> None:
    defined = set(_config().get(kind) or {})
    # The metrics pipeline uses one of two exporters (OTELCOL_METRICS_EXPORTER).
    choices = set(collector.METRICS_EXPORTERS) if kind == "exporters" else set()
    assert defined <= _used(kind) | choices, defined - _used(kind) - choices


def test_the_metrics_exporter_is_chosen_by_a_variable_defaulting_to_prometheus() -> None:
    text = collector.CONFIG.read_text(encoding="utf-8")
    placeholder = (
        f"${{env:{collector.METRICS_EXPORTER_VARIABLE}:-{collector.SCRAPED_METRICS_EXPORTER}}}"
    )
    assert f"- {placeholder}\n" in text
    assert _config()["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    assert set(collector.METRICS_EXPORTERS) <= set(_config()["exporters"])


def test_the_pushed_metrics_go_to_the_prometheus_otlp_receiver() -> None:
    endpoint = _config()["exporters"][collector.PUSHED_METRICS_EXPORTER]["endpoint"]
    # The otlp_http exporter appends /v1/metrics.
    compose_prometheus = "http://prometheus:9090"
    assert endpoint + "/v1/metrics" == compose_prometheus + prometheus_config.OTLP_METRICS_PATH


def test_every_defined_extension_is_enabled_and_vice_versa() -> None:
    config = _config()
    assert set(config["extensions"]) == set(config["service"]["extensions"])


def test_no_connectors_are_left_unused() -> None:
    assert not _config().get("connectors")


@pytest.mark.parametrize("kind", [*PIPELINE_KINDS, "extensions"])
def test_the_manifest_builds_exactly_the_components_the_config_uses(kind: str) -> None:
    used = {_component_type(name).replace("_", "") for name in _config()[kind]}
    assert _manifest_types(kind) == used


def test_every_manifest_module_is_of_one_release() -> None:
    manifest = load_yaml(COLLECTOR_MANIFEST)
    versions = {
        entry["gomod"].split()[1] for kind in KIND_SUFFIXES for entry in manifest.get(kind, [])
    }
    assert versions <= {"v0.165.0", "v0.165.1"}, versions
    assert f"v{manifest['dist']['version']}" == BUILDER_VERSION


def test_compose_runs_the_collector_image_of_the_manifests_release() -> None:
    image = compose_service(collector_service())["image"]
    assert image == f"otel/opentelemetry-collector-contrib:{BUILDER_VERSION.removeprefix('v')}"


def test_traces_go_to_jaeger_metrics_to_the_prometheus_exporter_and_logs_to_loki() -> None:
    pipelines = _config()["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    assert pipelines["logs"]["receivers"] == ["otlp"]
    assert pipelines["logs"]["exporters"] == ["otlp_http/loki"]
    assert pipelines["traces"]["receivers"] == ["otlp"]
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/jaeger"]
    assert pipelines["metrics"]["receivers"] == ["otlp"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]


def test_memory_limiter_comes_first_and_batch_last_in_every_pipeline() -> None:
    for name, pipeline in _config()["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
        assert pipeline["processors"][-1] == "batch", name


def test_prometheus_exporter_keeps_resource_attributes_on_target_info() -> None:
    exporter = _config()["exporters"]["prometheus"]
    assert exporter["resource_to_telemetry_conversion"] == {"enabled": False}


def test_otlp_receivers_listen_where_the_services_send() -> None:
    protocols = _config()["receivers"]["otlp"]["protocols"]
    assert split_host_port(protocols["grpc"]["endpoint"]) == ("0.0.0.0", 4317)
    assert split_host_port(protocols["http"]["endpoint"]) == ("0.0.0.0", 4318)
    for service in (*prometheus_config.COMPOSE_ORDER_API_REPLICAS, "web-gateway"):
        _, port = split_host_port(compose_env(service)["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert port == 4317, service


def test_prometheus_scrapes_the_exporter_and_the_collectors_own_metrics() -> None:
    config = _config()
    targets = prometheus_config.compose_targets()
    _, exporter_port = split_host_port(config["exporters"]["prometheus"]["endpoint"])
    assert [split_host_port(t)[1] for t in targets["otel-collector"]] == [exporter_port]
    (reader,) = config["service"]["telemetry"]["metrics"]["readers"]
    pull = reader["pull"]["exporter"]["prometheus"]
    assert pull["host"] == "0.0.0.0"
    assert [split_host_port(t)[1] for t in targets["otel-collector-internal"]] == [pull["port"]]


def test_jaeger_exporter_sends_to_the_jaeger_service_over_otlp_grpc() -> None:
    exporter = _config()["exporters"]["otlp_grpc/jaeger"]
    host, port = split_host_port(exporter["endpoint"])
    assert exporter["tls"] == {"insecure": True}
    assert str(port) in compose_service(host).get("expose", [])


def test_loki_exporter_sends_to_the_loki_services_otlp_endpoint() -> None:
    endpoint = _config()["exporters"]["otlp_http/loki"]["endpoint"]
    assert endpoint.endswith("/otlp")  # the exporter appends /v1/logs: Loki's OTLP path
    host, port = split_host_port(endpoint)
    assert str(port) in compose_service(host).get("expose", [])


def test_health_check_extension_listens_on_13133() -> None:
    endpoint = _config()["extensions"]["health_check"]["endpoint"]
    assert split_host_port(endpoint) == ("0.0.0.0", 13133)
