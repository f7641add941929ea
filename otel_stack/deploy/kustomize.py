"""A kustomize build of the subset of kustomize this project's manifests use, in Python.

`otel-stack render-kubernetes` must work where `kubectl` is not installed, so
it renders `deploy/kubernetes/` with this module rather than calling out to
kustomize. The subset: `resources` (files and directories with a
kustomization), `namespace`, strategic-merge `patches` given by `path` (the
target is the patch's own kind and name), `images` (new name, tag or digest of
pod templates' container images) and `sortOptions: {order: fifo}`.
Anything else in a kustomization is an error rather than silently ignored, and
a test renders every overlay with `kubectl kustomize` too and compares.

Strategic merge follows kustomize: maps merge recursively, `null` deletes a
key, and lists whose built-in schema names a merge key (containers by `name`,
volume mounts by `mountPath`, …) merge element by element: the patch's
elements first, each merged with its match, then the elements it does not
mention. Every other list, including every list in a custom resource, is
replaced by the patch's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"
SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "resources", "patches", "images", "sortOptions"}
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
    }
)
# Merge keys of built-in list fields (the `x-kubernetes-patch-merge-key`s of the
# Kubernetes schema), for the list fields this project's patches touch.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "topologySpreadConstraints": "topologyKey",
    "imagePullSecrets": "name",
}
BUILT_IN_GROUPS = frozenset(
    {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
)

Manifest = dict[str, Any]


class KustomizeError(ValueError):
    """A kustomization this renderer cannot build; the message names the file and the cause."""


def build(
    directory: Path, overrides: Mapping[Path, Sequence[Manifest]] | None = None
) -> list[Manifest]:
    """Build the kustomization in `directory`: its resources, patched and namespaced.

    `overrides` replaces the content of resource files (by resolved path), so a
    caller can render freshly generated files without writing them first.
    """
    top = _kustomization(directory / KUSTOMIZATION)
    if (top.get("sortOptions") or {}).get("order") != "fifo":
        # kustomize's default order differs; fifo keeps the file's order in both.
        raise KustomizeError(f"{directory / KUSTOMIZATION}: set sortOptions.order: fifo")
    return _build(directory.resolve(), overrides or {})


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a dashboard's JSON) as `|` blocks, readable in a diff."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(manifests: Sequence[Manifest]) -> str:
    """One YAML stream, documents separated by `---`."""
    return "---\n".join(
        yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096)
        for manifest in manifests
    )


def load_documents(path: Path) -> list[Manifest]:
    """The non-empty YAML documents of one file."""
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as error:
        raise KustomizeError(f"{path}: {error}") from None
    return [document for document in documents if document]


def strategic_merge(target: Any, patch: Any, *, built_in: bool = True) -> Any:
    """`target` with `patch` merged into it (neither is modified)."""
    if not isinstance(target, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged and isinstance(value, list) and built_in and key in MERGE_KEYS:
            merged[key] = _merge_list(merged[key], value, MERGE_KEYS[key])
        elif key in merged:
            merged[key] = strategic_merge(merged[key], value, built_in=built_in)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    # As kustomize orders them: the patch's elements first, in its order (merged with
    # their match when there is one), then the elements the patch does not mention.
    by_key = {item.get(key): item for item in target}
    merged = [
        strategic_merge(by_key[element.get(key)], element)
        if element.get(key) in by_key
        else copy.deepcopy(element)
        for element in patch
    ]
    patched = {element.get(key) for element in patch}
    return merged + [copy.deepcopy(item) for item in target if item.get(key) not in patched]


def _build(directory: Path, overrides: Mapping[Path, Sequence[Manifest]]) -> list[Manifest]:
    path = directory / KUSTOMIZATION
    kustomization = _kustomization(path)
    manifests: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        resource = (directory / entry).resolve()
        if resource.is_dir():
            manifests.extend(_build(resource, overrides))
        elif resource in overrides:
            manifests.extend(copy.deepcopy(list(overrides[resource])))
        else:
            manifests.extend(load_documents(resource))
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{path}: a patch must be given by `path` alone")
        for patch in load_documents(directory / patch_entry["path"]):
            _apply_patch(manifests, patch, directory / patch_entry["path"])
    for image in kustomization.get("images", []):
        _set_image(manifests, image)
    namespace = kustomization.get("namespace")
    if namespace:
        for manifest in manifests:
            if manifest.get("kind") not in CLUSTER_SCOPED_KINDS:
                manifest.setdefault("metadata", {})["namespace"] = namespace
    return manifests


def _kustomization(path: Path) -> Manifest:
    """The kustomization at `path`, refused when it uses anything outside the subset."""
    if not path.is_file():
        raise KustomizeError(f"{path.parent}: no {KUSTOMIZATION}")
    documents = load_documents(path)
    kustomization = documents[0] if documents else {}
    unsupported = sorted(set(kustomization) - SUPPORTED_FIELDS)
    if unsupported:
        raise KustomizeError(f"{path}: unsupported fields {', '.join(unsupported)}")
    if (kustomization.get("sortOptions") or {}).get("order", "fifo") != "fifo":
        raise KustomizeError(f"{path}: only sortOptions.order fifo is supported")
    return kustomization


def _set_image(manifests: list[Manifest], image: Mapping[str, str]) -> None:
    """kustomize's image transformer, on the containers of pods and pod templates."""
    for manifest in manifests:
        spec = manifest.get("spec") or {}
        for pod in (spec, (spec.get("template") or {}).get("spec") or {}):
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                container["image"] = _new_image(container.get("image", ""), image)


def _new_image(current: str, image: Mapping[str, str]) -> str:
    name, _, digest = current.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    name, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "")
    if name != image["name"]:
        return current
    name = image.get("newName", name)
    if "digest" in image:
        return f"{name}@{image['digest']}"
    tag = str(image.get("newTag", tag))
    suffix = f":{tag}" if tag else ""
    return f"{name}{suffix}@{digest}" if digest and "newTag" not in image else f"{name}{suffix}"


def _apply_patch(manifests: list[Manifest], patch: Manifest, source: Path) -> None:
    kind, name = patch.get("kind"), (patch.get("metadata") or {}).get("name")
    for index, manifest in enumerate(manifests):
        if manifest.get("kind") == kind and manifest["metadata"].get("name") == name:
            built_in = manifest.get("apiVersion") in BUILT_IN_GROUPS
            manifests[index] = strategic_merge(manifest, patch, built_in=built_in)
            return
    raise KustomizeError(f"{source}: no resource {kind}/{name} to patch")
