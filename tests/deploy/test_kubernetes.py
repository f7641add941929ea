"""deploy/kubernetes/: both overlays render, validate and agree with the rest of the project.

No cluster runs here: the manifests are proven offline — built-in objects
against the Kubernetes schemas, custom resources against their operators'
CRDs, and cross-checked (selectors, ports, environments, images, rules,
dashboards, collector config). Each check is shown to fail on a broken copy.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from otel_stack.deploy import kubernetes, kustomize, prometheus_config
from tests.deploy.stack_files import collector_config
from tests.support import kubernetes as checks
from tests.support.kubernetes import Manifest, named, of_kind
from tests.support.prometheus import promtool
from tests.support.tools import require_tool

REPO = checks.REPO
OVERLAYS = kubernetes.OVERLAYS
RULE_ALERTS = "otel-python-microservices-alerts"


@functools.cache
def _rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(kubernetes.render(overlay))


def rendered(overlay: str) -> list[Manifest]:
    """A fresh copy of the overlay's manifests (tests may change it)."""
    return copy.deepcopy(list(_rendered(overlay)))


def _container(manifests: list[Manifest], name: str) -> Manifest:
    (container,) = named(manifests, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    found: Manifest = container
    return found


def _env_entry(manifests: list[Manifest], deployment: str, variable: str) -> Manifest:
    (entry,) = [e for e in _container(manifests, deployment)["env"] if e["name"] == variable]
    found: Manifest = entry
    return found


# --- schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_objects_validate_strictly_against_the_pinned_kubernetes(overlay: str) -> None:
    assert checks.built_in_schema_problems(rendered(overlay)) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_validate_against_their_crds(overlay: str) -> None:
    manifests = rendered(overlay)
    kinds = {m["kind"] for m in manifests if checks._is_custom(m)}
    assert kinds == {"PodMonitor", "PrometheusRule", "OpenTelemetryCollector"}
    assert checks.custom_resource_problems(manifests) == []


def test_an_unknown_field_in_a_built_in_object_fails() -> None:
    manifests = rendered("dev")
    _container(manifests, "web-gateway")["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    (problem,) = checks.built_in_schema_problems(manifests)
    assert "Deployment/web-gateway" in problem
    assert "paht" in problem


def test_an_unknown_field_in_a_custom_resource_fails() -> None:
    manifests = rendered("dev")
    named(manifests, "PodMonitor", "order-api")["spec"]["podMetricsEndpoints"][0]["prot"] = "x"
    (problem,) = checks.custom_resource_problems(manifests)
    assert "PodMonitor/order-api" in problem
    assert "prot" in problem


def test_a_wrong_type_in_a_custom_resource_fails() -> None:
    manifests = rendered("production")
    named(manifests, "OpenTelemetryCollector", "otel")["spec"]["mode"] = "everywhere"
    assert checks.custom_resource_problems(manifests)


# --- cross-checks ----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_selector_matches_the_pods_it_is_meant_for(overlay: str) -> None:
    assert checks.selector_problems(rendered(overlay)) == []


@pytest.mark.parametrize("kind", ["Service", "PodMonitor", "PodDisruptionBudget"])
def test_a_broken_selector_fails(kind: str) -> None:
    manifests = rendered("production")
    owner = named(manifests, kind, "order-api")
    selector = owner["spec"]["selector"]
    (selector.get("matchLabels") or selector)["app.kubernetes.io/name"] = "order-apj"
    (problem,) = checks.selector_problems(manifests)
    assert f"{kind}/order-api" in problem


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_port_names_agree_between_containers_services_monitors_and_probes(overlay: str) -> None:
    assert checks.port_problems(rendered(overlay)) == []


def test_a_renamed_container_port_fails() -> None:
    manifests = rendered("dev")
    _container(manifests, "order-api")["ports"][1]["name"] = "prom"  # was "metrics"
    problems = checks.port_problems(manifests)
    assert any("Service/order-api" in p for p in problems)
    assert any("PodMonitor/order-api" in p for p in problems)


def test_a_grpc_probe_on_another_port_fails() -> None:
    manifests = rendered("dev")
    _container(manifests, "order-api")["readinessProbe"]["grpc"]["port"] = 8000
    (problem,) = checks.port_problems(manifests)
    assert "readinessProbe" in problem


def _gateway_target_problems(manifests: list[Manifest]) -> list[str]:
    """Why the gateways would not reach every ready order-api pod through a headless Service."""
    target = _env_entry(manifests, "web-gateway", "ORDER_API_TARGET")["value"]
    found = re.fullmatch(r"dns:///([a-z0-9-]+):(\d+)", target)
    if found is None:
        return [f"ORDER_API_TARGET={target!r}: not dns:///SERVICE:PORT"]
    name, port = found[1], int(found[2])
    services = [s for s in of_kind(manifests, "Service") if s["metadata"]["name"] == name]
    if not services:
        return [f"ORDER_API_TARGET={target!r}: no Service {name}"]
    (service,) = services
    problems = []
    if service["spec"].get("clusterIP") != "None":
        problems.append(f"Service/{name}: not headless (one virtual IP, one pod per connection)")
    order_api_pods = named(manifests, "Deployment", "order-api")["spec"]["template"]
    if service["spec"]["selector"].items() - order_api_pods["metadata"]["labels"].items():
        problems.append(f"Service/{name}: does not select the order-api pods")
    # A headless Service's DNS answer carries addresses only: the port dialled is the pods'.
    if not any(
        p["port"] == port and p["targetPort"] in ("grpc", port) for p in service["spec"]["ports"]
    ):
        problems.append(f"Service/{name}: no port {port} to the pods' grpc port")
    (grpc_port,) = [p for p in _container(manifests, "order-api")["ports"] if p["name"] == "grpc"]
    if grpc_port["containerPort"] != port:
        problems.append(f"ORDER_API_TARGET={target!r}: the pods listen on {grpc_port}")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateways_dial_every_order_api_pod_through_a_headless_service(overlay: str) -> None:
    assert _gateway_target_problems(rendered(overlay)) == []


def test_a_gateway_dialling_the_cluster_ip_service_fails() -> None:
    manifests = rendered("production")
    _env_entry(manifests, "web-gateway", "ORDER_API_TARGET")["value"] = "dns:///order-api:50051"

    assert _gateway_target_problems(manifests) == [
        "Service/order-api: not headless (one virtual IP, one pod per connection)"
    ]


def test_production_checks_the_order_api_certificate_for_its_own_name() -> None:
    """The gateways dial the headless name; the certificate names order-api (the README's list)."""
    manifests = rendered("production")

    assert _env_entry(manifests, "web-gateway", "ORDER_API_SERVER_NAME")["value"] == "order-api"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_environment_passes_the_services_own_parsers(overlay: str) -> None:
    assert checks.env_problems(rendered(overlay)) == []


@pytest.mark.parametrize(
    ("deployment", "variable", "value", "expected"),
    [
        ("web-gateway", "ORDER_API_TIMEOUT", "2s", "ORDER_API_TIMEOUT"),
        ("order-api", "ORDER_API_WORKERS", "0", "ORDER_API_WORKERS"),
        ("order-api", "OTEL_METRICS_EXPORTER", "prometheus,jaeger", "OTEL_METRICS_EXPORTER"),
        ("web-gateway", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ("order-api", "OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=$(POD_NAME)", "service.instance"),
    ],
)
def test_a_bad_environment_value_fails(
    deployment: str, variable: str, value: str, expected: str
) -> None:
    manifests = rendered("dev")
    _env_entry(manifests, deployment, variable)["value"] = value
    (problem,) = checks.env_problems(manifests)
    assert f"Deployment/{deployment}" in problem
    assert expected in problem


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("example", ["prometheus.yaml", "otlp.yaml", "exponential.yaml"])
def test_every_example_configuration_file_is_mounted_and_builds(overlay: str, example: str) -> None:
    manifests = rendered(overlay)
    for deployment in ("web-gateway", "order-api"):
        _env_entry(manifests, deployment, "OTEL_CONFIG_FILE")["value"] = f"/etc/otel/{example}"
    assert checks.env_problems(manifests) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/otel/absent.yaml", "not in a mounted ConfigMap"),
        ("/etc/otel/prometheus.yaml", "Unsupported file_format '2.0'"),
    ],
)
def test_a_configuration_file_that_is_not_there_or_not_usable_fails(
    path: str, expected: str
) -> None:
    manifests = rendered("dev")
    (config_map,) = [
        each
        for each in checks.of_kind(manifests, "ConfigMap")
        if each["metadata"]["name"] == kubernetes.SDK_CONFIG_MAP
    ]
    config_map["data"]["prometheus.yaml"] = 'file_format: "2.0"\n'
    _env_entry(manifests, "order-api", "OTEL_CONFIG_FILE")["value"] = path
    (problem,) = checks.env_problems(manifests)
    assert "Deployment/order-api" in problem
    assert expected in problem


def test_the_configuration_files_config_map_holds_config_otel() -> None:
    (config_map,) = [
        each
        for each in checks.of_kind(rendered("production"), "ConfigMap")
        if each["metadata"]["name"] == kubernetes.SDK_CONFIG_MAP
    ]
    examples = sorted((REPO / "config" / "otel").glob("*.yaml"))
    assert config_map["data"] == {path.name: path.read_text() for path in examples}


def test_a_bad_metrics_token_from_the_secret_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(checks.SAMPLE_SECRETS, ("web-gateway-metrics-token", "token"), "short")
    (problem,) = checks.env_problems(rendered("production"))
    assert "GATEWAY_METRICS_TOKEN" in problem


def test_service_instance_id_is_the_pod_name() -> None:
    manifests = rendered("production")
    for name in ("order-api", "web-gateway"):
        deployment = named(manifests, "Deployment", name)
        env = checks.resolved_env(deployment, _container(manifests, name))
        attributes = dict(pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
        assert attributes["service.instance.id"] == checks.SAMPLE_POD_NAME
        assert attributes["k8s.namespace.name"] == "otel-stack"


def _documented_variables() -> dict[str, set[str]]:
    """Variables of the README's configuration and exporter tables, by service module.

    A variable whose documented default is "unset" may stay unset.
    """
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    modules = {"gateway": "services.web_gateway", "order-api": "services.order_api"}
    wanted: dict[str, set[str]] = {module: set() for module in modules.values()}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`((?:GATEWAY|ORDER_API)_[A-Z_]+)`", cells[0])
        if len(cells) == 4 and names and cells[1] in modules and cells[2] != "unset":
            wanted[modules[cells[1]]].update(names)
    otel_table = readme.split("### Exporters and the standard variables", 1)[1].split("\n\n")[1]
    for line in otel_table.splitlines()[2:]:
        names = re.findall(r"`(OTEL_[A-Z_]+)`", line.split("|")[1])
        for variables in wanted.values():
            variables.update(names)
    # The gateway serves its metrics on its own port: no Prometheus listener to configure.
    wanted["services.web_gateway"] -= {
        "OTEL_EXPORTER_PROMETHEUS_HOST",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
    }
    return wanted


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_documented_variable_is_set_explicitly(overlay: str) -> None:
    wanted = _documented_variables()
    assert len(wanted["services.order_api"]) > 10
    for _deployment, _spec, container in checks.containers(rendered(overlay)):
        names = {variable["name"] for variable in container["env"]}
        assert wanted[container["args"][-1]] <= names, wanted[container["args"][-1]] - names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened_and_outlive_their_grace_period(overlay: str) -> None:
    assert checks.hardening_problems(rendered(overlay)) == []


def test_a_root_or_writable_or_short_lived_pod_fails() -> None:
    manifests = rendered("dev")
    container = _container(manifests, "web-gateway")
    container["securityContext"]["readOnlyRootFilesystem"] = False
    del container["resources"]["limits"]
    spec = named(manifests, "Deployment", "web-gateway")["spec"]["template"]["spec"]
    spec["terminationGracePeriodSeconds"] = 10
    assert len(checks.hardening_problems(manifests)) == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_the_services_health_endpoints(overlay: str) -> None:
    manifests = rendered(overlay)
    gateway = _container(manifests, "web-gateway")
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # On the health-only listener, which GATEWAY_MAX_CONNECTIONS does not count.
    health_listen = _env_entry(manifests, "web-gateway", "GATEWAY_HEALTH_LISTEN")["value"]
    ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        port_name = gateway[probe]["httpGet"]["port"]
        assert health_listen.endswith(f":{ports[port_name]}"), probe
        assert ports[port_name] != ports["http"], probe
    order_api = _container(manifests, "order-api")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert set(order_api[probe]) >= {"grpc"}, probe


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_and_the_services_image_is_this_version(overlay: str) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    manifests = rendered(overlay)
    for _deployment, _spec, container in checks.containers(manifests):
        assert container["image"] == f"otel-python-microservices:{version}"
    collector_image = named(manifests, "OpenTelemetryCollector", "otel")["spec"]["image"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert collector_image == compose["services"]["otel-collector"]["image"]
    for image in [collector_image] + [c["image"] for _, _, c in checks.containers(manifests)]:
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), image


# --- one source for each thing -----------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    for relative, manifests in kubernetes.generated().items():
        committed = (REPO / relative).read_text(encoding="utf-8")
        assert committed == kubernetes.generated_text(relative, manifests), (
            f"{relative} is stale: run `make kubernetes`"
        )


def test_a_changed_rule_file_makes_the_generated_rule_stale(tmp_path: Path) -> None:
    for folder in ("prometheus", "grafana", "deploy"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    for name in ("collector-config.yaml", "docker-compose.yml"):
        shutil.copy(REPO / name, tmp_path / name)
    rules = tmp_path / "prometheus" / "rules" / "alerts.yml"
    rules.write_text(rules.read_text().replace("for: 5m", "for: 6m", 1))
    relative = kubernetes.GENERATED / "prometheus-rules.yaml"
    fresh = kubernetes.generated_text(relative, kubernetes.generated(tmp_path)[relative])
    assert (tmp_path / relative).read_text() != fresh
    rule = named(kubernetes.render("dev", tmp_path), "PrometheusRule", RULE_ALERTS)
    assert "for: 6m" in yaml.safe_dump(rule)


def _rule_files() -> list[Path]:
    return sorted((REPO / "prometheus" / "rules").glob("*.yml"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_rule_file_is_one_prometheus_rule_with_exactly_its_groups(overlay: str) -> None:
    rules = of_kind(rendered(overlay), "PrometheusRule")
    assert [rule["metadata"]["name"] for rule in rules] == [
        f"otel-python-microservices-{path.stem}" for path in _rule_files()
    ]
    for rule, path in zip(rules, _rule_files(), strict=True):
        assert rule["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"]
        assert rule["spec"]["groups"]


def test_every_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    paths = []
    for rule in of_kind(rendered("production"), "PrometheusRule"):
        path = tmp_path / f"{rule['metadata']['name']}.yml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        paths.append(str(path))
    result = promtool("check", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pod_monitors_give_the_job_names_the_rules_use() -> None:
    manifests = rendered("production")
    for job in (prometheus_config.GATEWAY_JOB, prometheus_config.ORDER_API_JOB):
        monitor = named(manifests, "PodMonitor", job)
        label = monitor["spec"]["jobLabel"]
        assert monitor["spec"]["selector"]["matchLabels"][label] == job


def test_the_collector_is_scraped_as_the_compose_stacks_two_collector_jobs() -> None:
    manifests = rendered("production")
    monitor = named(manifests, "PodMonitor", "otel-collector")
    scraped = {
        endpoint["relabelings"][0]["replacement"]: endpoint
        for endpoint in monitor["spec"]["podMetricsEndpoints"]
    }
    targets = prometheus_config.compose_targets()
    for job in (prometheus_config.COLLECTOR_JOB, prometheus_config.COLLECTOR_INTERNAL_JOB):
        (target,) = targets[job]
        assert scraped[job]["portNumber"] == int(target.rpartition(":")[2])
        honors = job in prometheus_config.DEFAULT_HONOR_LABELS_JOBS
        assert scraped[job].get("honorLabels", False) is honors


def test_a_collector_monitor_that_misses_the_operators_pods_fails() -> None:
    manifests = rendered("production")
    named(manifests, "OpenTelemetryCollector", "otel")["metadata"]["name"] = "otel2"
    problems = checks.selector_problems(manifests)
    assert problems == [
        "PodMonitor/otel-collector: selector {'app.kubernetes.io/component': "
        "'opentelemetry-collector', 'app.kubernetes.io/instance': 'otel-stack.otel'} "
        "matches no pod"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_dashboard_is_a_config_map_for_grafanas_sidecar(overlay: str) -> None:
    maps = [m for m in of_kind(rendered(overlay), "ConfigMap") if "grafana_dashboard" in str(m)]
    dashboards = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    assert len(maps) == len(dashboards)
    for config_map, path in zip(maps, dashboards, strict=True):
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["data"] == {path.name: path.read_text()}
        json.loads(config_map["data"][path.name])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_collector_runs_collector_config_yaml_at_its_defaults(overlay: str) -> None:
    collector = named(rendered(overlay), "OpenTelemetryCollector", "otel")
    assert collector["spec"]["config"] == collector_config()
    assert collector["spec"]["mode"] == "deployment"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_send_otlp_to_the_collectors_service(overlay: str) -> None:
    manifests = rendered(overlay)
    collector = named(manifests, "OpenTelemetryCollector", "otel")
    grpc_endpoint = collector["spec"]["config"]["receivers"]["otlp"]["protocols"]["grpc"]
    grpc_port = re.findall(r"(\d+)\}?$", grpc_endpoint["endpoint"])[-1]
    # https exactly when the collector's receivers are told to serve TLS.
    collector_env = {e["name"]: e["value"] for e in collector["spec"].get("env", [])}
    scheme = "https" if collector_env.get("OTELCOL_OTLP_TLS") == "true" else "http"
    # The operator names the collector's Service after the resource: NAME-collector.
    expected = f"{scheme}://{collector['metadata']['name']}-collector:{grpc_port}"
    for name in ("order-api", "web-gateway"):
        assert _env_entry(manifests, name, "OTEL_EXPORTER_OTLP_ENDPOINT")["value"] == expected


def test_the_collector_config_in_the_resource_passes_the_collectors_validate(
    tmp_path: Path,
) -> None:
    binary = _collector_binary()
    collector = named(rendered("production"), "OpenTelemetryCollector", "otel")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(collector["spec"]["config"]))
    result = subprocess.run(
        [str(binary), "validate", f"--config={path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _collector_binary() -> Path:
    """The project's collector, built once into the tool cache."""
    return Path(require_tool("collector"))


# --- the overlays ------------------------------------------------------------------------


def test_dev_runs_one_replica_each_with_sqlite_on_a_claim() -> None:
    manifests = rendered("dev")
    for deployment in of_kind(manifests, "Deployment"):
        assert deployment["spec"]["replicas"] == 1
    order_api = named(manifests, "Deployment", "order-api")
    env = checks.resolved_env(order_api, _container(manifests, "order-api"))
    (mount,) = [
        m for m in _container(manifests, "order-api")["volumeMounts"] if m["name"] == "data"
    ]
    assert Path(env["ORDER_API_DB"]).parent == Path(mount["mountPath"])
    volumes = order_api["spec"]["template"]["spec"]["volumes"]
    (claim,) = [v["persistentVolumeClaim"]["claimName"] for v in volumes if v["name"] == "data"]
    assert named(manifests, "PersistentVolumeClaim", claim)
    assert order_api["spec"]["strategy"] == {"type": "Recreate"}


def test_production_scales_spreads_and_budgets_every_service() -> None:
    manifests = rendered("production")
    for name in ("order-api", "web-gateway"):
        deployment = named(manifests, "Deployment", name)
        assert deployment["spec"]["replicas"] == 3
        (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        autoscaler = named(manifests, "HorizontalPodAutoscaler", name)
        assert autoscaler["spec"]["minReplicas"] == 3
        assert named(manifests, "PodDisruptionBudget", name)["spec"]["minAvailable"] < 3


def test_production_reads_the_dsn_and_the_metrics_token_from_secrets() -> None:
    manifests = rendered("production")
    dsn = _env_entry(manifests, "order-api", "ORDER_API_DB")["valueFrom"]["secretKeyRef"]
    assert dsn == {"name": "order-api-database", "key": "dsn"}
    token = _env_entry(manifests, "web-gateway", "GATEWAY_METRICS_TOKEN")["valueFrom"]
    (endpoint,) = named(manifests, "PodMonitor", "web-gateway")["spec"]["podMetricsEndpoints"]
    assert endpoint["authorization"]["credentials"] == token["secretKeyRef"]
    assert not any(m["kind"] == "PersistentVolumeClaim" for m in manifests)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_certificates_and_keys_come_from_mounted_secrets(overlay: str) -> None:
    assert checks.tls_file_problems(rendered(overlay)) == []


def test_a_certificate_outside_a_mounted_secret_fails() -> None:
    manifests = rendered("production")
    _env_entry(manifests, "web-gateway", "ORDER_API_CA")["value"] = "/tmp/ca.crt"
    (problem,) = checks.tls_file_problems(manifests)
    assert "Deployment/web-gateway ORDER_API_CA" in problem


def test_production_encrypts_and_authenticates_every_hop() -> None:
    manifests = rendered("production")
    order_api = {e["name"] for e in _container(manifests, "order-api")["env"]}
    assert {"ORDER_API_TLS_CLIENT_CA", "ORDER_API_METRICS_TLS_CLIENT_CA"} <= order_api
    gateway = {e["name"] for e in _container(manifests, "web-gateway")["env"]}
    assert {"ORDER_API_CA", "ORDER_API_CLIENT_CERT", "ORDER_API_CLIENT_KEY"} <= gateway
    for name in ("order-api", "web-gateway"):
        assert _env_entry(manifests, name, "OTEL_EXPORTER_OTLP_ENDPOINT")["value"].startswith(
            "https://"
        )
        assert _env_entry(manifests, name, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
    collector_env = {
        e["name"]: e["value"]
        for e in named(manifests, "OpenTelemetryCollector", "otel")["spec"]["env"]
    }
    assert collector_env["OTELCOL_OTLP_TLS"] == "true"
    assert collector_env["OTELCOL_OTLP_TLS_CLIENT_CA_FILE"]
    (endpoint,) = named(manifests, "PodMonitor", "order-api")["spec"]["podMetricsEndpoints"]
    assert endpoint["scheme"] == "https"
    assert {"ca", "cert", "keySecret"} <= set(endpoint["tlsConfig"])


def test_dev_has_no_metrics_token_and_no_authorization() -> None:
    manifests = rendered("dev")
    names = {e["name"] for e in _container(manifests, "web-gateway")["env"]}
    assert "GATEWAY_METRICS_TOKEN" not in names
    (endpoint,) = named(manifests, "PodMonitor", "web-gateway")["spec"]["podMetricsEndpoints"]
    assert "authorization" not in endpoint


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateways_monitor_sends_the_token_exactly_when_the_gateway_wants_one(
    overlay: str,
) -> None:
    assert checks.metrics_token_problems(rendered(overlay)) == []


def test_a_monitor_without_the_gateways_token_fails() -> None:
    manifests = rendered("production")
    (endpoint,) = named(manifests, "PodMonitor", "web-gateway")["spec"]["podMetricsEndpoints"]
    del endpoint["authorization"]
    (problem,) = checks.metrics_token_problems(manifests)
    assert "PodMonitor/web-gateway" in problem


# --- the same output as kubectl kustomize ------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_python_render_equals_kustomizes(overlay: str) -> None:
    directory = REPO / "deploy" / "kubernetes" / "overlays" / overlay
    result = subprocess.run(
        [*checks.kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    theirs = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert rendered(overlay) == theirs


def test_the_rendered_stream_parses_back_to_the_manifests() -> None:
    manifests = rendered("production")
    assert list(yaml.safe_load_all(kustomize.dump(manifests))) == manifests
