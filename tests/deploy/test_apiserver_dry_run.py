"""Both overlays through a real kube-apiserver: server-side apply with dryRun=All.

The offline checks (tests/deploy/test_kubernetes.py) validate against schemas;
here the API server itself decides, with its admission chain, defaulting,
built-in validation (selectors, ports, quantities, …), strict field validation
and the CRDs' structural schemas, as `kubectl apply --server-side
--dry-run=server` would on a cluster. Nothing is scheduled or reconciled: no
controllers, kubelet or operator run.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator

import pytest

from otel_stack.deploy import kubernetes
from tests.support.kube_apiserver import ApiClient, Manifest, running_api_server

CRD_DIR = kubernetes.REPO.parent / "shared" / "reference" / "kubernetes-crds"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiClient]:
    """A ready API server with the reference CRDs Established (one per module: slow to start)."""
    crds = sorted(CRD_DIR.glob("*.yaml"))
    if not crds:
        pytest.skip(f"no CRDs at {CRD_DIR} (the shared reference folder beside the repository)")
    with running_api_server(tmp_path_factory.mktemp("apiserver")) as client:
        client.install_crds(crds)
        yield client


@functools.cache
def _rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(kubernetes.render(overlay))


def _prepared(api: ApiClient, overlay: str) -> list[Manifest]:
    """The overlay's manifests, their namespaces created for real (dry-run ones hold nothing)."""
    manifests = copy.deepcopy(list(_rendered(overlay)))
    namespaces = {m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"}
    namespaces |= {m["metadata"]["namespace"] for m in manifests if "namespace" in m["metadata"]}
    for namespace in sorted(namespaces):
        api.create_namespace(namespace)
    return manifests


def _first(manifests: list[Manifest], kind: str) -> Manifest:
    return next(m for m in manifests if m["kind"] == kind)


@pytest.mark.parametrize("overlay", kubernetes.OVERLAYS)
def test_the_api_server_accepts_every_object_of_the_overlay(api: ApiClient, overlay: str) -> None:
    manifests = _prepared(api, overlay)
    refusals = {
        f"{m['kind']}/{m['metadata']['name']}": refusal
        for m in manifests
        if (refusal := api.apply(m)) is not None
    }
    assert refusals == {}
    kinds = {m["kind"] for m in manifests}
    # The custom resources went through their CRDs, not around them.
    assert {"PodMonitor", "PrometheusRule", "OpenTelemetryCollector"} <= kinds


def test_a_pod_monitor_field_of_the_wrong_type_is_refused(api: ApiClient) -> None:
    monitor = _first(_prepared(api, "production"), "PodMonitor")
    monitor["spec"]["podMetricsEndpoints"][0]["interval"] = 30  # a duration string
    refusal = api.apply(monitor)
    assert refusal is not None
    assert "spec.podMetricsEndpoints[0].interval" in refusal
    assert "must be of type string" in refusal or "string" in refusal


def test_a_deployment_whose_selector_misses_its_pods_is_refused(api: ApiClient) -> None:
    deployment = _first(_prepared(api, "production"), "Deployment")
    deployment["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "nothing"}
    refusal = api.apply(deployment)
    assert refusal is not None
    assert "`selector` does not match template `labels`" in refusal


def test_an_unknown_field_is_refused_by_strict_field_validation(api: ApiClient) -> None:
    service = _first(_prepared(api, "dev"), "Service")
    service["spec"]["clusterIp"] = "None"  # clusterIP, misspelt
    refusal = api.apply(service)
    assert refusal is not None
    assert ".spec.clusterIp: field not declared in schema" in refusal


def test_the_dry_run_leaves_nothing_behind(api: ApiClient) -> None:
    deployment = _first(_prepared(api, "dev"), "Deployment")
    assert api.apply(deployment) is None
    path = api.object_path(deployment)
    with pytest.raises(Exception, match="404"):
        api.request("GET", path)


def test_changing_an_immutable_field_of_an_applied_object_is_refused(api: ApiClient) -> None:
    deployment = _first(_prepared(api, "dev"), "Deployment")
    deployment["metadata"]["name"] = "immutable-check"  # an object of its own, really stored
    assert api.apply(deployment, dry_run=False) is None
    labels = {"app.kubernetes.io/name": "renamed"}
    deployment["spec"]["selector"]["matchLabels"] = labels
    deployment["spec"]["template"]["metadata"]["labels"] = labels
    refusal = api.apply(deployment)
    assert refusal is not None
    assert "spec.selector" in refusal
    assert "field is immutable" in refusal
