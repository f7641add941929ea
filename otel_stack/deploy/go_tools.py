"""Builds of the Go programs the project runs or tests against, and where they are cached.

Which releases those are is `otel_stack.deploy.go_releases` (its names are
re-exported here, where the callers look for them). Prometheus and Alertmanager
are built from their Go modules (`github.com/prometheus/prometheus` module
`v0.3xx.y` is Prometheus `3.xx.y`) into the tool cache, one folder per release
(`<cache>/prometheus-3.15.1/{prometheus,promtool}`), and never rebuilt once
there. `make tools` (`otel-stack build-tools`) builds them; the tests, CI and
`otel-stack up` run them; docker-compose.yml pins the images of the same
releases (a test checks). One place says which release that is.

kube-apiserver and etcd, which only the API-server dry run of the Kubernetes
manifests needs, are built the same way but only when named (`make
kube-apiserver`): cold, they take longer than the rest together. Their modules'
go.mod files replace sibling modules of their repositories with folders that
the module downloads lack (Kubernetes' `staging/`), so they are built from a
generated main module that pins each of those to the release's own version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel_stack.deploy.go_releases import (
    ALERTMANAGER,
    DEFAULT_RELEASES,
    ETCD,
    KUBE_APISERVER,
    PROMETHEUS,
    RELEASES,
    GoRelease,
)
from otel_stack.deploy.toolcache import cache_root

__all__ = [
    "ALERTMANAGER",
    "DEFAULT_RELEASES",
    "ETCD",
    "KUBE_APISERVER",
    "PROMETHEUS",
    "RELEASES",
    "BuildError",
    "GoRelease",
    "binary_path",
    "build",
    "build_hint",
    "find",
    "install_dir",
    "main_module_text",
]

logger = logging.getLogger(__name__)

BUILD_TIMEOUT_SECONDS = 3600.0


class BuildError(Exception):
    """A release that could not be built; the message says why in one line."""


def install_dir(release: GoRelease, environ: Mapping[str, str] = os.environ) -> Path:
    """The cache folder of one release."""
    return cache_root(environ) / f"{release.name}-{release.version}"


def binary_path(release: GoRelease, command: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Where `command` of `release` is (or will be) in the cache."""
    if command not in release.commands:
        raise ValueError(f"{release.name} has no command {command!r}")
    return install_dir(release, environ) / command


def find(release: GoRelease, command: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The cached binary, or None when the release has not been built."""
    path = binary_path(release, command, environ)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def build_hint(release: GoRelease) -> str:
    """How a user gets the release."""
    return f"make {release.name} builds {release.name} {release.version} (needs Go)"


def build(release: GoRelease, environ: Mapping[str, str] = os.environ) -> Path:
    """Build every command of `release` into its cache folder unless it is there; return it."""
    target = install_dir(release, environ)
    if all(find(release, command, environ) for command in release.commands):
        return target
    go = shutil.which("go", path=environ.get("PATH"))
    if go is None:
        raise BuildError(f"cannot build {release.name}: go is not on PATH (https://go.dev/dl/)")
    download = _download(go, release, environ)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{release.name}-", dir=target.parent))
    try:
        if release.packages:
            source = _main_module(go, release, Path(download["GoMod"]), staging / "main", environ)
        elif release.missing_assets:
            source = _with_placeholders(Path(download["Dir"]), staging / "source", release)
        else:
            source = Path(download["Dir"])
        # Static, as upstream's release builds of kube-apiserver and etcd are.
        build_environ = {**environ, "CGO_ENABLED": "0"} if release.packages else environ
        for command, package in zip(release.commands, release.build_targets, strict=True):
            output = str(staging / "bin" / command)
            _run(
                [go, "build", "-trimpath", "-ldflags", release.ldflags, "-o", output, package],
                cwd=source,
                environ=build_environ,
                what=f"go build of {release.name} {release.version}",
            )
        shutil.rmtree(target, ignore_errors=True)
        (staging / "bin").rename(target)  # complete or absent: never half a release
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(go: str, release: GoRelease, environ: Mapping[str, str]) -> dict[str, str]:
    """The module in Go's module cache: `Dir` (its source), `GoMod` (its go.mod), …"""
    output = _run(
        [go, "mod", "download", "-json", f"{release.module}@{release.module_version}"],
        cwd=None,
        environ=environ,
        what=f"go mod download of {release.module}@{release.module_version}",
    )
    download: dict[str, str] = json.loads(output)
    return download


def main_module_text(release: GoRelease, upstream: Mapping[str, Any]) -> str:
    """The go.mod of a main module building `release`, from upstream's (`go mod edit -json`).

    Each module upstream requires at the placeholder version v0.0.0 and replaces
    with a local folder (Kubernetes' `k8s.io/api => ./staging/src/k8s.io/api`)
    is pinned to the release's own version of it (`k8s.io/api => k8s.io/api
    v0.33.13`). Local replaces of modules required at a real version (etcd's
    `../api`, required at v3.5.24) need nothing: that version is the same code.
    Everything else keeps upstream's required versions, which `go mod tidy` resolves.
    """
    placeholders = {
        each["Path"] for each in upstream.get("Require") or [] if each["Version"] == "v0.0.0"
    }
    pinned = sorted(
        each["Old"]["Path"]
        for each in upstream.get("Replace") or []
        if each["New"]["Path"].startswith(".") and each["Old"]["Path"] in placeholders
    )
    if pinned and not release.local_modules_version:
        raise BuildError(f"{release.name}: no version to pin {pinned[0]} and its siblings to")
    lines = [
        f"module otel-stack.local/build/{release.name}",
        "",
        "go 1.24",  # the first with `tool`; go mod tidy raises it to what the modules need
        "",
        f"require {release.module} {release.module_version}",
        "",
        *(f"replace {path} => {path} {release.local_modules_version}" for path in pinned),
        "",
        *(f"tool {package}" for package in release.packages),
    ]
    return "\n".join(lines) + "\n"


def _main_module(
    go: str, release: GoRelease, upstream_go_mod: Path, folder: Path, environ: Mapping[str, str]
) -> Path:
    upstream = json.loads(
        _run(
            [go, "mod", "edit", "-json", str(upstream_go_mod)],
            cwd=None,
            environ=environ,
            what=f"reading {release.module}@{release.module_version}'s go.mod",
        )
    )
    folder.mkdir(parents=True)
    (folder / "go.mod").write_text(main_module_text(release, upstream), encoding="utf-8")
    _run(
        [go, "mod", "tidy"],
        cwd=folder,
        environ=environ,
        what=f"go mod tidy for {release.name} {release.version}",
        mod="mod",
    )
    return folder


def _with_placeholders(source: Path, copy: Path, release: GoRelease) -> Path:
    """A writable copy of the module's source with a placeholder for each missing asset."""
    shutil.copytree(source, copy)
    for path in [copy, *copy.rglob("*")]:  # copied from the read-only module cache
        path.chmod(path.stat().st_mode | 0o200)
    for relative in release.missing_assets:
        asset = copy / relative
        asset.parent.mkdir(parents=True, exist_ok=True)
        asset.write_text(
            f"<!doctype html><title>{release.name}</title>"
            f"<p>This {release.name} {release.version} was built without its web UI; "
            "its HTTP API works.</p>\n",
            encoding="utf-8",
        )
    return copy


def _run(
    command: list[str],
    *,
    cwd: Path | None,
    environ: Mapping[str, str],
    what: str,
    mod: str = "readonly",
) -> str:
    # Read-only: the dependency versions of upstream's go.mod and go.sum (or of the
    # generated main module once `go mod tidy`, the one step allowed to write, made it).
    env = {**environ, "GOWORK": "off", "GOFLAGS": f"-mod={mod}"}
    logger.info("running %s", " ".join(command))
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what} took longer than {BUILD_TIMEOUT_SECONDS:.0f}s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{what} failed (exit {result.returncode}): {last}")
    return result.stdout
