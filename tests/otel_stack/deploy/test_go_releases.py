"""Tests for otel_stack/deploy/go_releases.py: versions, flags and images of each release."""

from __future__ import annotations

from otel_stack.deploy.go_releases import ALERTMANAGER, ETCD, KUBE_APISERVER, PROMETHEUS
from tests.support.kubernetes import KUBERNETES_VERSION


def test_module_versions_name_the_prometheus_release() -> None:
    # github.com/prometheus/prometheus v0.3xx.y is Prometheus 3.xx.y.
    _, major_minor, patch = PROMETHEUS.module_version.removeprefix("v").split(".")
    major, minor = divmod(int(major_minor), 100)
    assert PROMETHEUS.version == f"{major}.{minor}.{patch}"
    assert ALERTMANAGER.module_version == f"v{ALERTMANAGER.version}"


def test_ldflags_set_the_version_that_version_prints() -> None:
    assert "-X github.com/prometheus/common/version.Version=3.15.1" in PROMETHEUS.ldflags


def test_kube_apiserver_is_the_kubernetes_release_of_the_offline_schemas() -> None:
    assert KUBE_APISERVER.version.split(".")[:2] == KUBERNETES_VERSION.split(".")[:2]
    assert KUBE_APISERVER.module_version == f"v{KUBE_APISERVER.version}"
    # Kubernetes 1.x.y's staging modules (k8s.io/api, …) are v0.x.y.
    assert KUBE_APISERVER.local_modules_version == f"v0.{KUBE_APISERVER.version.split('.', 1)[1]}"
    assert f"version.gitVersion=v{KUBE_APISERVER.version}" in KUBE_APISERVER.ldflags
    assert ETCD.module_version == f"v{ETCD.version}"


def test_images_are_tagged_with_the_release() -> None:
    assert PROMETHEUS.image_reference == "prom/prometheus:v3.15.1"
    assert ALERTMANAGER.image_reference == "prom/alertmanager:v0.34.2"
