"""The project's OpenTelemetry Collector (`otelcol-stack`): where it is built and how.

`otelcol/builder-config.yaml` is an OpenTelemetry Collector Builder manifest.
`build()` installs the builder (`go install`) and compiles the manifest into the
tool cache (`otel_stack.deploy.toolcache`), in a folder named by a hash of the
manifest's content and the builder's version: an unchanged manifest is never
rebuilt, and nothing built lands in the work tree. `make collector`, `otel-stack
up --otlp`, the tests and CI all go through this module.

`python -m otel_stack.harness.local_collector` builds if needed and prints the binary's
path as its last line (progress goes to stderr).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from otel_stack import data
from otel_stack.deploy.toolcache import cache_root
from otel_stack.harness.processes import ServiceSpec
from otel_stack.harness.readiness import http_ok
from otel_stack.harness.running import free_ports

MANIFEST = data.COLLECTOR_MANIFEST
CONFIG = data.COLLECTOR_CONFIG
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
# The builder's release is the collector core's release the manifest pins.
BUILDER_VERSION = "v0.165.0"
DISTRIBUTION = "otelcol-stack"
# The metrics pipeline's exporter, chosen by OTELCOL_METRICS_EXPORTER: the `prometheus`
# exporter (scraped), or pushing on into Prometheus' OTLP receiver.
METRICS_EXPORTER_VARIABLE = "OTELCOL_METRICS_EXPORTER"
SCRAPED_METRICS_EXPORTER = "prometheus"
PUSHED_METRICS_EXPORTER = "otlp_http/prometheus"
METRICS_EXPORTERS = (SCRAPED_METRICS_EXPORTER, PUSHED_METRICS_EXPORTER)
# Where the logs pipeline sends when no log backend is given: a loopback port nothing serves.
NO_LOGS_BACKEND = "http://127.0.0.1:9"
GO_INSTALL_HINT = "Go is needed to build the collector: install it from https://go.dev/dl/"


@dataclass(frozen=True)
class CollectorPorts:
    """Where a collector started on this machine listens, all on 127.0.0.1."""

    otlp_grpc: int
    otlp_http: int
    health: int
    prometheus: int
    telemetry: int

    @classmethod
    def free(cls) -> CollectorPorts:
        """Five distinct loopback ports that were free a moment ago."""
        return cls(*free_ports(5))

    @property
    def otlp_endpoint(self) -> str:
        """The value of OTEL_EXPORTER_OTLP_ENDPOINT that reaches its OTLP/gRPC receiver."""
        return f"http://127.0.0.1:{self.otlp_grpc}"

    @property
    def health_url(self) -> str:
        """The health_check extension: 200 once every pipeline runs."""
        return f"http://127.0.0.1:{self.health}/"

    @property
    def prometheus_target(self) -> str:
        """The `prometheus` exporter (the services' metrics), as a scrape target."""
        return f"127.0.0.1:{self.prometheus}"

    @property
    def telemetry_target(self) -> str:
        """The collector's own metrics, as a scrape target."""
        return f"127.0.0.1:{self.telemetry}"


# The variable of collector-config.yaml that sets each listening address.
PORT_VARIABLES = {
    "otlp_grpc": "OTELCOL_OTLP_GRPC_ENDPOINT",
    "otlp_http": "OTELCOL_OTLP_HTTP_ENDPOINT",
    "health": "OTELCOL_HEALTH_ENDPOINT",
    "prometheus": "OTELCOL_PROMETHEUS_ENDPOINT",
    "telemetry": "OTELCOL_TELEMETRY_PORT",
}
# The ports of collector-config.yaml's defaults (the compose values).
DEFAULT_PORTS = CollectorPorts(
    otlp_grpc=4317, otlp_http=4318, health=13133, prometheus=8889, telemetry=8888
)


def ports_from_environ(environ: Mapping[str, str] = os.environ) -> CollectorPorts:
    """The default ports, except where an OTELCOL_* variable names another (`host:port`)."""
    chosen = {
        field: int(environ[name].rpartition(":")[2])
        for field, name in PORT_VARIABLES.items()
        if environ.get(name, "").rpartition(":")[2].isdigit()
    }
    return dataclasses.replace(DEFAULT_PORTS, **chosen)


_ENV_REFERENCE = re.compile(r"\$\{env:(\w+):-([^}]*)\}")


# The receivers' TLS settings: a deployment sets them in the collector's environment.
TLS_VARIABLES = (
    "OTELCOL_OTLP_TLS",
    "OTELCOL_OTLP_TLS_CERT_FILE",
    "OTELCOL_OTLP_TLS_KEY_FILE",
    "OTELCOL_OTLP_TLS_CLIENT_CA_FILE",
)


def with_env_defaults(text: str, keep: Collection[str] = ()) -> str:
    """`text` with every `${env:NAME:-default}` replaced by its default (the compose value).

    References to the variables in `keep` stay, for the collector to read at run time.
    """
    return _ENV_REFERENCE.sub(
        lambda match: match.group(0) if match.group(1) in keep else match.group(2), text
    )


class CollectorBuildError(Exception):
    """The collector could not be built; the message says why in one line."""


def cache_key(manifest: Path = MANIFEST) -> str:
    """A short hash of the manifest's bytes and the builder's version."""
    digest = hashlib.sha256(BUILDER_VERSION.encode() + b"\0" + manifest.read_bytes())
    return digest.hexdigest()[:16]


def binary_path(manifest: Path = MANIFEST, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the binary built from `manifest` lives (whether or not it is built yet)."""
    return cache_root(environ) / "otelcol" / cache_key(manifest) / DISTRIBUTION


def built_binary(manifest: Path = MANIFEST, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The built binary, or None when this manifest has not been built."""
    path = binary_path(manifest, environ)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def find_go() -> str | None:
    """The `go` command: on PATH, or in the official tarball's default place."""
    found = shutil.which("go")
    if found:
        return found
    default = Path("/usr/local/go/bin/go")
    return str(default) if default.is_file() else None


def build(
    manifest: Path = MANIFEST,
    *,
    environ: Mapping[str, str] = os.environ,
    progress: Callable[[str], None] = lambda line: None,
) -> Path:
    """Build the distribution unless it is in the cache; return the binary's path."""
    existing = built_binary(manifest, environ)
    if existing is not None:
        return existing
    go = find_go()
    if go is None:
        raise CollectorBuildError(GO_INSTALL_HINT)
    target = binary_path(manifest, environ)
    builder = _install_builder(go, environ, progress)
    target.parent.parent.mkdir(parents=True, exist_ok=True)
    # Build in a scratch folder beside the target and move the binary in last, so an
    # interrupted build never leaves a half-written binary under the cache key.
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix="build-") as scratch:
        work = Path(scratch)
        spec = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        spec["dist"]["output_path"] = str(work / "src")
        (work / "manifest.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        progress(f"building {DISTRIBUTION} from {manifest} (first build takes minutes)")
        _run(
            [str(builder), f"--config={work / 'manifest.yaml'}"],
            _go_environ(go, environ),
            target.parent.parent / f"{target.parent.name}.build.log",
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        (work / "src" / DISTRIBUTION).replace(target)
        shutil.copyfile(manifest, target.parent / "builder-config.yaml")
    return target


def config_environ(
    ports: CollectorPorts, traces_endpoint: str, logs_endpoint: str = NO_LOGS_BACKEND
) -> dict[str, str]:
    """The OTELCOL_* variables that point collector-config.yaml at loopback ports.

    `logs_endpoint` is an OTLP/HTTP base URL; by default nothing listens there, so
    logs the services send are dropped after the exporter's retries (no Loki locally).
    """
    return {
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{ports.otlp_grpc}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports.otlp_http}",
        "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{ports.health}",
        "OTELCOL_PROMETHEUS_ENDPOINT": ports.prometheus_target,
        "OTELCOL_TELEMETRY_HOST": "127.0.0.1",
        "OTELCOL_TELEMETRY_PORT": str(ports.telemetry),
        "OTELCOL_TRACES_ENDPOINT": traces_endpoint,
        "OTELCOL_LOGS_ENDPOINT": logs_endpoint,
    }


def spec(
    binary: Path,
    data_dir: Path,
    ports: CollectorPorts,
    *,
    traces_endpoint: str,
    logs_endpoint: str = NO_LOGS_BACKEND,
    config: Path = CONFIG,
    overrides: tuple[str, ...] = (),
    environ: Mapping[str, str] = os.environ,
) -> ServiceSpec:
    """How to run the collector with `config` on loopback ports; ready when healthy.

    `overrides` are `--set=path::to::field=value` arguments, for tests.
    """
    return ServiceSpec(
        name="otel-collector",
        command=[str(binary), f"--config={config}", *(f"--set={o}" for o in overrides)],
        env={**environ, **config_environ(ports, traces_endpoint, logs_endpoint)},
        log_path=data_dir / "otel-collector.log",
        ready=lambda: http_ok(ports.health_url),
        ready_description=f"GET {ports.health_url} answering 200",
        cwd=data_dir,
    )


def _install_builder(go: str, environ: Mapping[str, str], progress: Callable[[str], None]) -> Path:
    bindir = cache_root(environ) / "builder" / BUILDER_VERSION
    builder = bindir / "builder"
    if builder.is_file():
        return builder
    progress(f"installing the collector builder {BUILDER_VERSION} (go install)")
    bindir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=bindir.parent, prefix="install-") as scratch:
        _run(
            [go, "install", f"{BUILDER_MODULE}@{BUILDER_VERSION}"],
            {**_go_environ(go, environ), "GOBIN": scratch},
            bindir / "install.log",
        )
        (Path(scratch) / "builder").replace(builder)
    return builder


def _go_environ(go: str, environ: Mapping[str, str]) -> dict[str, str]:
    # The builder runs `go` from PATH; put the one found first.
    path = f"{Path(go).parent}{os.pathsep}{environ.get('PATH', '')}"
    return {**environ, "PATH": path, "CGO_ENABLED": environ.get("CGO_ENABLED", "0")}


def _run(command: list[str], environ: Mapping[str, str], log: Path) -> None:
    with log.open("wb") as out:
        code = subprocess.run(
            command, env=dict(environ), stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise CollectorBuildError(f"{command[0]} exited with {code}: {tail[0]} (log: {log})")


def main() -> int:
    """Build if needed; print the binary's path last. Exit 1 with one line on failure."""
    try:
        path = build(progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (CollectorBuildError, OSError) as error:
        print(f"collector: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
