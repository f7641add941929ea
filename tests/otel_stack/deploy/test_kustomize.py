"""otel_stack/deploy/kustomize.py: builds what kustomize builds, refuses what it cannot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from otel_stack.deploy import kustomize
from otel_stack.deploy.kustomize import KustomizeError
from tests.support.kubernetes import kustomize_command

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "app", "labels": {"app": "app"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "app"}},
        "template": {
            "metadata": {"labels": {"app": "app"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.local:5000/team/app:1.0",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    },
                    {"name": "sidecar", "image": "busybox:1.36"},
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
                "nodeSelector": {"disk": "ssd"},
            },
        },
    },
}
MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "app"},
    "spec": {
        "selector": {"matchLabels": {"app": "app"}},
        "podMetricsEndpoints": [{"port": "http"}, {"port": "other"}],
    },
}
DEPLOYMENT_PATCH = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "app"},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "nodeSelector": None,
            }
        },
    },
}
MONITOR_PATCH = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "app"},
    "spec": {"podMetricsEndpoints": [{"port": "http", "path": "/metrics"}]},
}


def _write(path: Path, *documents: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def _tree(root: Path, overlay_extra: dict[str, object] | None = None) -> Path:
    """A base (one Deployment, one PodMonitor) and an overlay patching both."""
    _write(root / "base" / "app.yaml", DEPLOYMENT, MONITOR)
    _write(
        root / "base" / "kustomization.yaml",
        {"resources": ["app.yaml"], "namespace": "base-ns"},
    )
    _write(root / "overlay" / "deployment-patch.yaml", DEPLOYMENT_PATCH)
    _write(root / "overlay" / "monitor-patch.yaml", MONITOR_PATCH)
    _write(
        root / "overlay" / "kustomization.yaml",
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": "overlay-ns",
            "resources": ["../base"],
            "patches": [{"path": "deployment-patch.yaml"}, {"path": "monitor-patch.yaml"}],
            "images": [
                {"name": "registry.local:5000/team/app", "newName": "example.org/app"},
                {"name": "busybox", "newTag": "1.37"},
            ],
            "sortOptions": {"order": "fifo"},
            **(overlay_extra or {}),
        },
    )
    return root / "overlay"


def test_build_equals_kustomize_on_patches_images_and_namespaces(tmp_path: Path) -> None:
    overlay = _tree(tmp_path)
    command = kustomize_command()
    result = subprocess.run(
        [*command, str(overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert kustomize.build(overlay) == list(yaml.safe_load_all(result.stdout))


def test_lists_with_a_merge_key_merge_with_the_patchs_elements_first(tmp_path: Path) -> None:
    deployment, _ = kustomize.build(_tree(tmp_path))
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert app["env"] == [
        {"name": "B", "value": "two"},
        {"name": "C", "value": "3"},
        {"name": "A", "value": "1"},
    ]
    assert [m["mountPath"] for m in app["volumeMounts"]] == ["/data", "/tmp"]
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"]


def test_lists_in_custom_resources_are_replaced(tmp_path: Path) -> None:
    _, monitor = kustomize.build(_tree(tmp_path))
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics"}]
    assert monitor["metadata"]["namespace"] == "overlay-ns"


def test_images_change_name_and_tag_of_matching_containers_only(tmp_path: Path) -> None:
    deployment, _ = kustomize.build(_tree(tmp_path))
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["example.org/app:1.0", "busybox:1.37"]


def test_an_unsupported_field_is_an_error_naming_it(tmp_path: Path) -> None:
    overlay = _tree(tmp_path, {"commonLabels": {"team": "a"}})
    with pytest.raises(KustomizeError, match="unsupported fields commonLabels"):
        kustomize.build(overlay)


def test_the_top_level_must_keep_resources_in_file_order(tmp_path: Path) -> None:
    overlay = _tree(tmp_path, {"sortOptions": {"order": "legacy"}})
    with pytest.raises(KustomizeError, match="fifo"):
        kustomize.build(overlay)


def test_a_patch_of_a_missing_resource_is_an_error(tmp_path: Path) -> None:
    overlay = _tree(tmp_path)
    _write(overlay / "monitor-patch.yaml", {**MONITOR_PATCH, "metadata": {"name": "nope"}})
    with pytest.raises(KustomizeError, match="no resource PodMonitor/nope"):
        kustomize.build(overlay)


def test_overrides_replace_a_resource_files_content(tmp_path: Path) -> None:
    overlay = _tree(tmp_path)
    replaced = {**MONITOR, "metadata": {"name": "app", "labels": {"fresh": "yes"}}}
    overrides = {(tmp_path / "base" / "app.yaml").resolve(): [DEPLOYMENT, replaced]}
    _, monitor = kustomize.build(overlay, overrides)
    assert monitor["metadata"]["labels"] == {"fresh": "yes"}
