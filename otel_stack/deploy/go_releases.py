"""Which releases of which Go programs the project builds, runs and pins: one place says.

Each `GoRelease` names its module and version, its commands, the container
image of the same release (docker-compose.yml pins it; a test checks) and what
its build needs (`otel_stack.deploy.go_tools` builds them).
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION_PACKAGE = "github.com/prometheus/common/version"


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
    # `-X package.variable=value` settings that make `--version` say the release.
    version_variables: tuple[str, ...] = ()
    # Built from a generated main module: the import path of each command, and the version
    # the modules upstream requires as v0.0.0 and replaces with local folders are pinned to.
    packages: tuple[str, ...] = ()
    local_modules_version: str = ""
    # Built only when named (`otel-stack build-tools NAME`), not by `make tools`.
    on_request: bool = False

    @property
    def image_reference(self) -> str:
        """The container image of this release, as docker-compose.yml must pin it."""
        return f"{self.image}:v{self.version}"

    @property
    def ldflags(self) -> str:
        """Linker flags that make `--version` say the release (as upstream's own builds do)."""
        return " ".join(["-s", "-w", *(f"-X {setting}" for setting in self.version_variables)])

    @property
    def build_targets(self) -> tuple[str, ...]:
        """What `go build` builds: import paths, else `./cmd/<command>` in the module's source."""
        return self.packages or tuple(f"./cmd/{command}" for command in self.commands)


def _prometheus_version(version: str) -> tuple[str, ...]:
    return (
        f"{VERSION_PACKAGE}.Version={version}",
        f"{VERSION_PACKAGE}.Branch=v{version}",
        f"{VERSION_PACKAGE}.BuildUser=otel-stack",
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
    version_variables=_prometheus_version("3.15.1"),
)
ALERTMANAGER = GoRelease(
    name="alertmanager",
    module="github.com/prometheus/alertmanager",
    module_version="v0.34.2",
    version="0.34.2",
    commands=("alertmanager", "amtool"),
    image="prom/alertmanager",
    missing_assets=("ui/app/dist/index.html",),
    version_variables=_prometheus_version("0.34.2"),
)
# Kubernetes 1.33, the schemas the offline checks use; its latest patch release here, and
# the etcd release kubeadm 1.33 installs with it (cmd/kubeadm/app/constants: 3.5.24).
KUBE_APISERVER = GoRelease(
    name="kube-apiserver",
    module="k8s.io/kubernetes",
    module_version="v1.33.13",
    version="1.33.13",
    commands=("kube-apiserver",),
    image="registry.k8s.io/kube-apiserver",
    version_variables=(
        "k8s.io/component-base/version.gitVersion=v1.33.13",
        "k8s.io/component-base/version.gitMajor=1",
        "k8s.io/component-base/version.gitMinor=33",
        "k8s.io/component-base/version.gitTreeState=clean",
    ),
    packages=("k8s.io/kubernetes/cmd/kube-apiserver",),
    local_modules_version="v0.33.13",  # staging/src/k8s.io/api is k8s.io/api v0.33.13, …
    on_request=True,
)
ETCD = GoRelease(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    module_version="v3.5.24",
    version="3.5.24",
    commands=("etcd",),
    image="gcr.io/etcd-development/etcd",
    packages=("go.etcd.io/etcd/server/v3",),  # its main package (etcdmain's wrapper)
    on_request=True,
)
RELEASES = {release.name: release for release in (PROMETHEUS, ALERTMANAGER, KUBE_APISERVER, ETCD)}
DEFAULT_RELEASES = tuple(sorted(name for name, r in RELEASES.items() if not r.on_request))
