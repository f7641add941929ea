"""Offline checks of rendered Kubernetes manifests, each returning the problems it finds.

Every check takes the list of manifests of one overlay and returns a list of
problems (empty when it passes), so a test can show that the check fails on a
manifest broken on purpose. Schemas: `kubernetes-validate` for built-in
objects (Kubernetes `KUBERNETES_VERSION`, strict), the CRDs in
`../shared/reference/kubernetes-crds/` for custom resources.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from otel import settings
from otel.sdk import build_resource, build_telemetry
from services.envconfig import ConfigError
from services.order_api.config import Config as OrderApiConfig
from services.web_gateway.config import Config as GatewayConfig
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO.parent / "shared" / "reference" / "kubernetes-crds"
KUBERNETES_VERSION = "1.33.0"

KUSTOMIZE_HINT = (
    "neither kustomize nor kubectl on PATH: "
    "go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1 (as .ci/run does)"
)

Manifest = dict[str, Any]

# What the cluster would put in the environment, for resolving valueFrom:
# a pod's own fields, and values of the Secrets the production overlay refers to.
SAMPLE_POD_NAME = "order-api-5d8f7c9b6-x2x7q"
SAMPLE_SECRETS = {
    ("order-api-database", "dsn"): "postgresql://orders:secret@postgres:5432/orders",
    ("web-gateway-metrics-token", "token"): "k8s-sample-metrics-token-0123456789",
}
# The config parser of each service, by the module its container runs.
CONFIG_PARSERS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "services.order_api": OrderApiConfig.from_env,
    "services.web_gateway": GatewayConfig.from_env,
}
GRACE_VARIABLES = {
    "services.order_api": "ORDER_API_GRACE_SECONDS",
    "services.web_gateway": "GATEWAY_GRACE_SECONDS",
}


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The manifests of one kind."""
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one manifest of this kind and name."""
    (manifest,) = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    return manifest


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(Deployment, its pod template) pairs."""
    for deployment in of_kind(manifests, "Deployment"):
        yield deployment, deployment["spec"]["template"]


def containers(manifests: list[Manifest]) -> Iterator[tuple[Manifest, Manifest, Manifest]]:
    """(Deployment, pod spec, container) of every container."""
    for deployment, template in pod_templates(manifests):
        for container in template["spec"]["containers"]:
            yield deployment, template["spec"], container


def kustomize_command() -> list[str]:
    """`kustomize build` or `kubectl kustomize`; skip without either (fail: REQUIRE_KUSTOMIZE=1)."""
    path = require_tool("kustomize")
    return [path, "kustomize"] if Path(path).name == "kubectl" else [path, "build"]


# --- schemas ---------------------------------------------------------------------------


def built_in_schema_problems(manifests: list[Manifest]) -> list[str]:
    """Built-in objects that fail the pinned Kubernetes schemas (unknown fields included)."""
    problems = []
    for manifest in manifests:
        if _is_custom(manifest):
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(part) for part in error.path)
            problems.append(f"{_name(manifest)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{_name(manifest)}: no {manifest['apiVersion']} schema")
    return problems


def custom_resource_problems(manifests: list[Manifest]) -> list[str]:
    """Custom resources that fail their CRD's openAPIV3Schema (unknown fields included)."""
    schemas = crd_schemas()
    problems = []
    for manifest in filter(_is_custom, manifests):
        schema = schemas.get((manifest["apiVersion"], manifest["kind"]))
        if schema is None:
            problems.append(f"{_name(manifest)}: no CRD for {manifest['apiVersion']}")
            continue
        validator = jsonschema.Draft7Validator(schema)
        for error in validator.iter_errors(manifest):
            path = "/".join(str(part) for part in error.path)
            problems.append(f"{_name(manifest)}: {path}: {error.message}")
    return problems


@functools.cache
def crd_schemas() -> dict[tuple[str, str], Manifest]:
    """(apiVersion, kind) -> strict JSON schema, from the reference CRDs; skip without them."""
    if not CRD_DIR.is_dir():
        pytest.skip(f"no CRDs at {CRD_DIR} (the shared reference folder beside the repository)")
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def strict(schema: Any) -> Any:
    """The schema refusing unknown fields, as the API server's strict field validation does.

    An object with `properties` gets `additionalProperties: false` unless it
    preserves unknown fields (`x-kubernetes-preserve-unknown-fields`) or says
    otherwise itself.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    if "properties" in schema:
        result["properties"] = {key: strict(value) for key, value in schema["properties"].items()}
    return result


# --- cross-checks ----------------------------------------------------------------------


def pods(manifests: list[Manifest]) -> list[tuple[dict[str, str], dict[str, int]]]:
    """(labels, ports by name) of every kind of pod: Deployments' and the operator's collectors'.

    A collector's pods carry the labels the OpenTelemetry Operator gives them
    (component and `NAMESPACE.NAME` instance) and listen on the ports of its config.
    """
    found = []
    for deployment, _spec, container in containers(manifests):
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        found.append((deployment["spec"]["template"]["metadata"]["labels"], ports))
    for resource in of_kind(manifests, "OpenTelemetryCollector"):
        labels = {
            "app.kubernetes.io/component": "opentelemetry-collector",
            "app.kubernetes.io/instance": (
                f"{resource['metadata'].get('namespace', 'default')}.{resource['metadata']['name']}"
            ),
        }
        text = yaml.safe_dump(resource["spec"]["config"])
        numbers = re.findall(r"(?:endpoint: [^\n]*:|port: )(\d+)$", text, re.MULTILINE)
        found.append((labels, {f"config-{number}": int(number) for number in numbers}))
    return found


def selector_problems(manifests: list[Manifest]) -> list[str]:
    """Services, PodMonitors, PDBs, spread constraints and Deployments that select no pods."""
    pod_labels = [labels for labels, _ports in pods(manifests)]
    problems = []

    def check(owner: str, match: Mapping[str, str]) -> None:
        if not match or not any(_matches(match, labels) for labels in pod_labels):
            problems.append(f"{owner}: selector {dict(match)} matches no pod")

    for deployment, template in pod_templates(manifests):
        match = deployment["spec"]["selector"]["matchLabels"]
        if not _matches(match, template["metadata"]["labels"]):
            problems.append(f"{_name(deployment)}: selector does not match its own pods")
        for constraint in template["spec"].get("topologySpreadConstraints", []):
            check(f"{_name(deployment)} spread", constraint["labelSelector"]["matchLabels"])
    for service in of_kind(manifests, "Service"):
        check(_name(service), service["spec"]["selector"])
    for owner in of_kind(manifests, "PodMonitor") + of_kind(manifests, "PodDisruptionBudget"):
        check(_name(owner), owner["spec"]["selector"]["matchLabels"])
    deployments = {d["metadata"]["name"] for d in of_kind(manifests, "Deployment")}
    for autoscaler in of_kind(manifests, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        if target["kind"] != "Deployment" or target["name"] not in deployments:
            problems.append(f"{_name(autoscaler)}: scales {target['kind']}/{target['name']}")
    return problems


def port_problems(manifests: list[Manifest]) -> list[str]:
    """Port names and numbers that disagree between containers, Services, monitors and probes."""
    problems = []
    ports_by_pod = pods(manifests)
    for deployment, _spec, container in containers(manifests):
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(probe_name)
            if probe is None:
                continue
            if "httpGet" in probe and probe["httpGet"]["port"] not in ports:
                problems.append(f"{_name(deployment)} {probe_name}: no port {probe['httpGet']}")
            # gRPC probes take a number: it must be the container's gRPC port.
            if "grpc" in probe and probe["grpc"]["port"] != ports.get("grpc"):
                problems.append(f"{_name(deployment)} {probe_name}: not the grpc port")

    def named_ports(match: Mapping[str, str]) -> set[str | int]:
        """Names and numbers of the ports of the pods `match` selects."""
        return {
            key
            for labels, ports in ports_by_pod
            if _matches(match, labels)
            for name, number in ports.items()
            for key in (name, number)
        }

    for service in of_kind(manifests, "Service"):
        available = named_ports(service["spec"]["selector"])
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in available:
                problems.append(f"{_name(service)}: targetPort {port['targetPort']} not on pods")
    for monitor in of_kind(manifests, "PodMonitor"):
        available = named_ports(monitor["spec"]["selector"]["matchLabels"])
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            port = endpoint.get("port", endpoint.get("portNumber"))
            if port not in available:
                problems.append(f"{_name(monitor)}: port {port} not on pods")
    return problems


def resolved_env(deployment: Manifest, container: Manifest) -> dict[str, str]:
    """The container's environment as the kubelet would set it, with sample pod and secrets.

    `valueFrom` is resolved from the sample pod name, the manifest's namespace
    and `SAMPLE_SECRETS`; `$(NAME)` refers to a variable defined earlier.
    """
    namespace = deployment["metadata"].get("namespace", "default")
    fields = {"metadata.name": SAMPLE_POD_NAME, "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for variable in container.get("env", []):
        if "valueFrom" in variable:
            source = variable["valueFrom"]
            if "fieldRef" in source:
                value = fields[source["fieldRef"]["fieldPath"]]
            else:
                secret = source["secretKeyRef"]
                value = SAMPLE_SECRETS[(secret["name"], secret["key"])]
        else:
            value = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda match: env.get(match.group(1), match.group(0)),
                variable.get("value", ""),
            )
        env[variable["name"]] = value
    return env


def env_problems(manifests: list[Manifest]) -> list[str]:
    """Environments that the services' own parsers refuse, or that lose the pod's identity.

    With OTEL_CONFIG_FILE set, the file must be mounted from a ConfigMap of the
    render and build the service's telemetry with this environment.
    """
    problems = []
    for deployment, spec, container in containers(manifests):
        env = resolved_env(deployment, container)
        module = container["args"][-1]
        owner = _name(deployment)
        try:
            CONFIG_PARSERS[module](env)  # its own variables and the OTEL_* ones
            # Checked even where no exporter uses OTLP yet: switching to it would fail.
            for signal in ("metrics", "traces"):
                settings.otlp_protocol(env, signal)
        except ConfigError as error:
            problems.append(f"{owner}: {error}")
        if settings.config_file(env):
            problems.extend(
                f"{owner}: {problem}"
                for problem in _config_file_problems(manifests, spec, container, env)
            )
        else:
            problems.extend(f"{owner}: {problem}" for problem in _otel_env_problems(env))
    return problems


def mounted_file(
    manifests: list[Manifest], spec: Manifest, container: Manifest, path: str
) -> str | None:
    """The text a pod would read at `path` from a ConfigMap volume of the render, if any."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        directory = mount["mountPath"].rstrip("/") + "/"
        source = volumes.get(mount["name"], {}).get("configMap")
        if source is None or not path.startswith(directory):
            continue
        config_maps = of_kind(manifests, "ConfigMap")
        data: dict[str, str] = next(
            (
                each.get("data", {})
                for each in config_maps
                if each["metadata"]["name"] == source["name"]
            ),
            {},
        )
        text: str | None = data.get(path[len(directory) :])
        return text
    return None


def _config_file_problems(
    manifests: list[Manifest], spec: Manifest, container: Manifest, env: Mapping[str, str]
) -> list[str]:
    path = settings.config_file(env) or ""
    text = mounted_file(manifests, spec, container, path)
    if text is None:
        return [f"OTEL_CONFIG_FILE={path}: not in a mounted ConfigMap"]
    with tempfile.TemporaryDirectory() as directory, pytest.MonkeyPatch.context() as patch:
        local = Path(directory) / Path(path).name
        local.write_text(text, encoding="utf-8")
        for name in [name for name in os.environ if name.startswith("OTEL_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            config = settings.TelemetrySettings.from_env({**env, "OTEL_CONFIG_FILE": str(local)})
            telemetry = build_telemetry("unset", config)
        except ConfigError as error:
            return [str(error).replace(str(local), path)]
    telemetry.shutdown()
    if telemetry.service_name != env.get("OTEL_SERVICE_NAME"):
        return [f"service.name is {telemetry.service_name!r}"]
    return []


def _otel_env_problems(env: Mapping[str, str]) -> list[str]:
    problems = []
    if settings.sdk_disabled(env):
        problems.append("OTEL_SDK_DISABLED=true: no telemetry")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"):
            patch.setenv(name, env.get(name, ""))
        attributes = build_resource("unset").attributes
    if attributes.get("service.instance.id") != SAMPLE_POD_NAME:
        problems.append(f"service.instance.id is {attributes.get('service.instance.id')!r}")
    if attributes.get("service.name") != env.get("OTEL_SERVICE_NAME"):
        problems.append(f"service.name is {attributes.get('service.name')!r}")
    return problems


def metrics_token_problems(manifests: list[Manifest]) -> list[str]:
    """PodMonitors that do not send the bearer token their pods require (or send one unasked)."""
    problems = []
    for monitor in of_kind(manifests, "PodMonitor"):
        match = monitor["spec"]["selector"]["matchLabels"]
        tokens = [
            variable.get("valueFrom", {}).get("secretKeyRef")
            for deployment, _spec, container in containers(manifests)
            if _matches(match, deployment["spec"]["template"]["metadata"]["labels"])
            for variable in container.get("env", [])
            if variable["name"] == "GATEWAY_METRICS_TOKEN"
        ]
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            sent = endpoint.get("authorization", {}).get("credentials")
            if sent != (tokens[0] if tokens else None):
                problems.append(f"{_name(monitor)}: sends {sent}, the pods want {tokens}")
    return problems


def hardening_problems(manifests: list[Manifest]) -> list[str]:
    """Pods that run as root, write their root filesystem, keep capabilities or lack limits."""
    problems = []
    for deployment, spec, container in containers(manifests):
        owner = _name(deployment)
        pod_security = spec.get("securityContext", {})
        security = container.get("securityContext", {})
        if not pod_security.get("runAsNonRoot") or not pod_security.get("runAsUser"):
            problems.append(f"{owner}: may run as root")
        if not security.get("readOnlyRootFilesystem"):
            problems.append(f"{owner}: writable root filesystem")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{owner}: privilege escalation allowed")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{owner}: capabilities not dropped")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                problems.append(f"{owner}: no cpu and memory {kind}")
        grace = float(resolved_env(deployment, container)[GRACE_VARIABLES[container["args"][-1]]])
        if spec.get("terminationGracePeriodSeconds", 30) <= grace:
            problems.append(f"{owner}: terminationGracePeriodSeconds not above {grace:g}")
    return problems


def _is_custom(manifest: Manifest) -> bool:
    group = manifest["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _name(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"
