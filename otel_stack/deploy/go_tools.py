"""The Prometheus and Alertmanager releases the project runs: versions, cached builds, builds.

Both are built from their Go modules (`github.com/prometheus/prometheus` module
`v0.3xx.y` is Prometheus `3.xx.y`) into the tool cache, one folder per release
(`<cache>/prometheus-3.15.1/{prometheus,promtool}`), and never rebuilt once
there. `make prometheus alertmanager` (`otel-stack build-tools`) builds them;
the tests, CI and `otel-stack up` run them; docker-compose.yml pins the images
of the same releases (a test checks). One place says which release that is.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from otel_stack.deploy.toolcache import cache_root

logger = logging.getLogger(__name__)

VERSION_PACKAGE = "github.com/prometheus/common/version"
BUILD_TIMEOUT_SECONDS = 3600.0


class BuildError(Exception):
    """A release that could not be built; the message says why in one line."""


@dataclass(frozen=True)
class GoRelease:
    """One release of a Go program, its commands and the container image of the same release."""

    name: str
    module: str
    module_version: str
    version: str
    commands: tuple[str, ...]
    image: str
    # Files the source embeds but the module does not ship (web UI bundles built with npm):
    # the build writes a placeholder page there, so the API works and the UI says it is absent.
    missing_assets: tuple[str, ...] = ()

    @property
    def image_reference(self) -> str:
        """The container image of this release, as docker-compose.yml must pin it."""
        return f"{self.image}:v{self.version}"

    @property
    def ldflags(self) -> str:
        """Linker flags that make `--version` say the release (as upstream's own builds do)."""
        return " ".join(
            [
                "-s",
                "-w",
                f"-X {VERSION_PACKAGE}.Version={self.version}",
                f"-X {VERSION_PACKAGE}.Branch=v{self.version}",
                f"-X {VERSION_PACKAGE}.BuildUser=otel-stack",
            ]
        )


# 3.15.1 and 0.34.2: the latest bug-fix releases of the newest minor versions that have one.
# Prometheus 3.15.1 also shares its dependency versions with the collector build.
PROMETHEUS = GoRelease(
    name="prometheus",
    module="github.com/prometheus/prometheus",
    module_version="v0.315.1",
    version="3.15.1",
    commands=("prometheus", "promtool"),
    image="prom/prometheus",
)
ALERTMANAGER = GoRelease(
    name="alertmanager",
    module="github.com/prometheus/alertmanager",
    module_version="v0.34.2",
    version="0.34.2",
    commands=("alertmanager", "amtool"),
    image="prom/alertmanager",
    missing_assets=("ui/app/dist/index.html",),
)
RELEASES = {release.name: release for release in (PROMETHEUS, ALERTMANAGER)}


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
    source = _download(go, release, environ)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{release.name}-", dir=target.parent))
    try:
        if release.missing_assets:
            source = _with_placeholders(source, staging / "source", release)
        _run(
            [
                go,
                "build",
                "-trimpath",
                "-ldflags",
                release.ldflags,
                "-o",
                f"{staging / 'bin'}{os.sep}",
                *(f"./cmd/{command}" for command in release.commands),
            ],
            cwd=source,
            environ=environ,
            what=f"go build of {release.name} {release.version}",
        )
        shutil.rmtree(target, ignore_errors=True)
        (staging / "bin").rename(target)  # complete or absent: never half a release
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(go: str, release: GoRelease, environ: Mapping[str, str]) -> Path:
    """The module's source, unpacked in Go's module cache (its own go.mod and go.sum)."""
    output = _run(
        [go, "mod", "download", "-json", f"{release.module}@{release.module_version}"],
        cwd=None,
        environ=environ,
        what=f"go mod download of {release.module}@{release.module_version}",
    )
    return Path(json.loads(output)["Dir"])


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


def _run(command: list[str], *, cwd: Path | None, environ: Mapping[str, str], what: str) -> str:
    # The release is built as its own main module, with its go.mod, go.sum and replace
    # directives: exactly the dependency versions of upstream's build.
    env = {**environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly"}
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
