"""The NetworkPolicies of deploy/kubernetes/: exactly the intended connections, in both overlays.

Every (source, destination, port) among the rendered pods and a few outsiders
(a client on the internet, Prometheus and Grafana in `monitoring`, a pod that
looks like Prometheus in another namespace, an unknown pod in `otel-stack`, a
database outside the cluster) is evaluated with `tests.support.network_policy`
(the NetworkPolicy API's semantics, no CNI) and the set of allowed connections
must equal the table below; broken copies of the policies are shown to be caught.
Enforcement on a real cluster depends on its CNI and is not proven here.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import pytest

from otel_stack.deploy import kubernetes
from tests.support import kubernetes as checks
from tests.support.kubernetes import Manifest, named
from tests.support.network_policy import Endpoint, External, Pod, allowed, selects

NAMESPACE = "otel-stack"
Connection = tuple[str, str, str]  # (source, destination, "port" or "port/UDP")


def _namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _outsider(name: str, namespace: str, labels: dict[str, str], **ports: int) -> Pod:
    return Pod(
        name,
        namespace,
        labels,
        _namespace_labels(namespace),
        {port_name: (number, "TCP") for port_name, number in ports.items()},
    )


PROMETHEUS = _outsider("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
GRAFANA = _outsider("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"})
IMPOSTOR = _outsider("impostor", "default", {"app.kubernetes.io/name": "prometheus"})
STRANGER = _outsider("stranger", NAMESPACE, {"run": "debug"}, http=8080)
JAEGER = _outsider("jaeger", NAMESPACE, {"app.kubernetes.io/name": "jaeger"}, otlp=4317)
LOKI = _outsider("loki", NAMESPACE, {"app.kubernetes.io/name": "loki"}, http=3100)
KUBE_DNS = Pod(
    "kube-dns",
    "kube-system",
    {"k8s-app": "kube-dns"},
    _namespace_labels("kube-system"),
    {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")},
)
INTERNET = External("internet", "203.0.113.7")
POSTGRESQL = External("postgresql", "198.51.100.5")
EXTERNAL_PORTS = {"internet": [(443, "TCP")], "postgresql": [(5432, "TCP")]}


def rendered_pods(manifests: list[Manifest]) -> list[Pod]:
    """The project's pods: each Deployment's, and the operator's collector."""
    found = []
    for deployment, _spec, container in checks.containers(manifests):
        ports = {
            port["name"]: (port["containerPort"], port.get("protocol", "TCP"))
            for port in container.get("ports", [])
        }
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        found.append(Pod(name, NAMESPACE, labels, _namespace_labels(NAMESPACE), ports))
    for labels, numbers in checks.pods(manifests):
        if labels.get("app.kubernetes.io/component") == "opentelemetry-collector":
            ports = {name: (number, "TCP") for name, number in numbers.items()}
            pod = Pod("otel-collector", NAMESPACE, labels, _namespace_labels(NAMESPACE), ports)
            found.append(pod)
    return found


def allowed_connections(manifests: list[Manifest]) -> set[Connection]:
    """Every allowed connection that starts or ends at a pod of the namespace."""
    pods = rendered_pods(manifests)
    sources: list[Endpoint] = [*pods, PROMETHEUS, GRAFANA, IMPOSTOR, STRANGER, INTERNET]
    destinations: list[Endpoint] = [*pods, STRANGER, JAEGER, LOKI, KUBE_DNS, INTERNET, POSTGRESQL]
    found = set()
    for source in sources:
        for destination in destinations:
            if not _touches_namespace(source) and not _touches_namespace(destination):
                continue
            if isinstance(destination, Pod):
                ports = set(destination.ports.values())
            else:
                ports = set(EXTERNAL_PORTS[destination.name])
            for port, protocol in ports:
                if allowed(manifests, source, destination, port, protocol):
                    suffix = "" if protocol == "TCP" else f"/{protocol}"
                    found.add((source.name, destination.name, f"{port}{suffix}"))
    return found


def _touches_namespace(endpoint: Endpoint) -> bool:
    return isinstance(endpoint, Pod) and endpoint.namespace == NAMESPACE


ANYONE = ("internet", "prometheus", "grafana", "impostor")
SERVICES = ("web-gateway", "order-api")
# Every pod of the namespace (the unknown one too) resolves names.
DNS = {
    (source, "kube-dns", port)
    for source in (*SERVICES, "otel-collector", "stranger")
    for port in ("53", "53/UDP")
}
BOTH: set[Connection] = {
    *((who, "web-gateway", port) for who in ANYONE for port in ("8080", "8081")),
    ("web-gateway", "order-api", "50051"),
    ("prometheus", "order-api", "8000"),
    *((service, "otel-collector", port) for service in SERVICES for port in ("4317", "4318")),
    ("prometheus", "otel-collector", "8888"),
    ("prometheus", "otel-collector", "8889"),
    *((who, "otel-collector", "13133") for who in ANYONE),
    ("otel-collector", "jaeger", "4317"),
    ("otel-collector", "loki", "3100"),
    *DNS,
}
EXPECTED = {
    "dev": BOTH,
    "production": BOTH
    | {(who, "order-api", "50052") for who in ANYONE}
    | {("order-api", "postgresql", "5432")},
}


@functools.cache
def _rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(kubernetes.render(overlay))


def rendered(overlay: str) -> list[Manifest]:
    """A fresh copy of the overlay's manifests (tests may change it)."""
    return copy.deepcopy(list(_rendered(overlay)))


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_exactly_the_intended_connections_are_allowed(overlay: str) -> None:
    found = allowed_connections(rendered(overlay))
    expected = EXPECTED[overlay]
    assert (sorted(found - expected), sorted(expected - found)) == ([], [])


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
@pytest.mark.parametrize(
    ("source", "destination", "port", "verdict"),
    [
        ("web-gateway", "order-api", "50051", True),
        ("otel-collector", "order-api", "50051", False),
        ("stranger", "order-api", "50051", False),
        ("internet", "order-api", "50051", False),
        ("prometheus", "order-api", "8000", True),
        ("impostor", "order-api", "8000", False),  # Prometheus' labels, another namespace
        ("grafana", "order-api", "8000", False),  # the monitoring namespace, not Prometheus
        ("web-gateway", "order-api", "8000", False),
        ("internet", "web-gateway", "8080", True),
        ("order-api", "web-gateway", "8080", False),
        ("web-gateway", "otel-collector", "4317", True),
        ("order-api", "otel-collector", "4318", True),
        ("stranger", "otel-collector", "4317", False),
        ("prometheus", "otel-collector", "4317", False),
        ("prometheus", "otel-collector", "8889", True),
        ("impostor", "otel-collector", "8888", False),
        ("web-gateway", "kube-dns", "53/UDP", True),
        ("web-gateway", "internet", "443", False),
        ("web-gateway", "postgresql", "5432", False),
        ("stranger", "web-gateway", "8080", False),
    ],
)
def test_the_table_of_who_may_talk_to_whom(
    overlay: str, source: str, destination: str, port: str, verdict: bool
) -> None:
    assert ((source, destination, port) in allowed_connections(rendered(overlay))) is verdict


def test_postgresql_only_from_the_order_api_of_the_production_overlay() -> None:
    assert ("order-api", "postgresql", "5432") not in allowed_connections(rendered("dev"))
    assert ("order-api", "postgresql", "5432") in allowed_connections(rendered("production"))


# --- broken copies are caught ---------------------------------------------------------------


def _policy(manifests: list[Manifest], name: str) -> Manifest:
    return named(manifests, "NetworkPolicy", name)


def _split_prometheus_peer(manifests: list[Manifest]) -> None:
    """namespaceSelector and podSelector as two peers: OR instead of AND."""
    rule = _policy(manifests, "order-api")["spec"]["ingress"][1]
    (peer,) = rule["from"]
    rule["from"] = [
        {"namespaceSelector": peer["namespaceSelector"]},
        {"podSelector": peer["podSelector"]},
    ]


def _grpc_from_anyone(manifests: list[Manifest]) -> None:
    del _policy(manifests, "order-api")["spec"]["ingress"][0]["from"]


def _gateway_egress_anywhere(manifests: list[Manifest]) -> None:
    _policy(manifests, "web-gateway")["spec"]["egress"].append({})


def _misnamed_grpc_port(manifests: list[Manifest]) -> None:
    _policy(manifests, "order-api")["spec"]["ingress"][0]["ports"] = [{"port": "grcp"}]


def _empty_pod_selector(manifests: list[Manifest]) -> None:
    _policy(manifests, "otel-collector")["spec"]["ingress"][0]["from"] = [{"podSelector": {}}]


@pytest.mark.parametrize(
    ("breakage", "wrongly_allowed", "wrongly_denied"),
    [
        (_split_prometheus_peer, ("grafana", "order-api", "8000"), None),
        (_grpc_from_anyone, ("internet", "order-api", "50051"), None),
        (_gateway_egress_anywhere, ("web-gateway", "internet", "443"), None),
        (_misnamed_grpc_port, None, ("web-gateway", "order-api", "50051")),
        (_empty_pod_selector, ("otel-collector", "otel-collector", "4317"), None),
    ],
)
def test_a_broken_policy_is_caught(
    breakage: Callable[[list[Manifest]], None],
    wrongly_allowed: Connection | None,
    wrongly_denied: Connection | None,
) -> None:
    manifests = rendered("dev")
    breakage(manifests)
    found = allowed_connections(manifests)
    assert found != EXPECTED["dev"]
    if wrongly_allowed is not None:
        assert wrongly_allowed in found
    if wrongly_denied is not None:
        assert wrongly_denied not in found


# --- the evaluator's own semantics -------------------------------------------------------------


def _policy_of(spec: Manifest) -> Manifest:
    return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"}, "spec": spec}


A = Pod("a", "a", {"app": "a"}, _namespace_labels("a"), {"web": (80, "TCP")})
B = Pod("b", "b", {"app": "b"}, _namespace_labels("b"))


def test_a_pod_no_policy_selects_is_open() -> None:
    assert allowed([], B, A, 80)
    other = _policy_of({"podSelector": {"matchLabels": {"app": "x"}}})
    assert allowed([other], B, A, 80)


def test_policy_types_default_to_ingress_plus_egress_when_it_has_egress_rules() -> None:
    ingress_only = _policy_of({"podSelector": {}})
    assert not allowed([ingress_only], B, A, 80)
    assert allowed([ingress_only], A, B, 80)  # A's egress is not restricted
    with_egress = _policy_of({"podSelector": {}, "egress": []})
    assert not allowed([with_egress], A, B, 80)


def test_ports_named_numbered_ranged_and_by_protocol() -> None:
    def opened(*ports: Manifest) -> Manifest:
        return _policy_of({"podSelector": {}, "ingress": [{"ports": list(ports)}]})

    assert allowed([opened({"port": "web"})], B, A, 80)
    assert not allowed([opened({"port": "web", "protocol": "UDP"})], B, A, 80)
    assert not allowed([opened({"port": "nope"})], B, A, 80)
    assert allowed([opened({"port": 70, "endPort": 90})], B, A, 80)
    assert not allowed([opened({"port": 81})], B, A, 80)


def test_ip_blocks_match_outside_addresses_minus_exceptions() -> None:
    rule = {"from": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.7/32"]}}]}
    policy = _policy_of({"podSelector": {}, "ingress": [rule]})
    assert allowed([policy], External("x", "203.0.113.8"), A, 80)
    assert not allowed([policy], External("x", "203.0.113.7"), A, 80)
    assert not allowed([policy], B, A, 80)


def test_match_expressions() -> None:
    def selector(operator: str, *values: str) -> Manifest:
        return {"matchExpressions": [{"key": "app", "operator": operator, "values": list(values)}]}

    assert selects(selector("In", "a", "b"), {"app": "a"})
    assert not selects(selector("NotIn", "a"), {"app": "a"})
    assert selects(selector("NotIn", "a"), {})
    assert selects({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""})
    assert not selects(
        {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": ""}
    )
