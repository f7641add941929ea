"""A real Kubernetes API server on loopback (etcd + kube-apiserver) and a tiny REST client.

`running_api_server(directory)` starts etcd (data in `directory`, loopback ports,
no fsync: it is thrown away) and kube-apiserver against it (loopback, a
throwaway serving certificate, a service-account key pair, one static token in
`system:masters`, `AlwaysAllow`), waits for `/readyz` and stops both however
the test ends. `ApiClient` speaks the REST API with `urllib`, so no kubectl is
needed: `install_crds` creates CustomResourceDefinitions and waits until they
are Established, `apply` sends one object as a server-side apply with
`dryRun=All` (unless told otherwise) and strict field validation, and returns
the API server's refusal (admission, defaulting, schema and CRD structural
validation, immutable fields) or None.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from otel_stack.harness import certificates, processes
from otel_stack.harness.processes import ServiceSpec
from otel_stack.harness.readiness import http_ok
from otel_stack.harness.running import free_ports
from tests.support.polling import wait_until
from tests.support.tools import require_tool

Manifest = dict[str, Any]

FIELD_MANAGER = "otel-stack-test"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
# Both start in seconds on an idle machine; a shared 2-core machine may take much longer.
STARTUP_TIMEOUT_SECONDS = 120.0
ESTABLISHED_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0


class ApiError(Exception):
    """A request the API server refused: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass
class ApiClient:
    """Requests to one API server over TLS (its CA) with a bearer token."""

    url: str
    token: str
    ca_file: Path
    _resources: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)

    def request(self, method: str, path: str, body: Manifest | None = None, **options: Any) -> Any:
        """The decoded JSON answer of `send` (same options)."""
        return json.loads(self.send(method, path, body, **options))

    def send(
        self,
        method: str,
        path: str,
        body: Manifest | None = None,
        *,
        content_type: str = "application/json",
        query: dict[str, str] | None = None,
    ) -> bytes:
        """The answer's body; raise ApiError with the server's message on a refusal."""
        url = self.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(
                request, timeout=REQUEST_TIMEOUT_SECONDS, context=context
            ) as response:
                answer: bytes = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, _message(error.read())) from None
        return answer

    def ready(self) -> bool:
        """Whether /readyz answers ok (storage, informers and every post-start hook done)."""
        try:
            return self.send("GET", "/readyz") == b"ok"
        except (ApiError, OSError):
            return False

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of a kind, from the server's discovery documents."""
        if (api_version, kind) not in self._resources:
            prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for each in self.request("GET", prefix)["resources"]:
                if "/" not in each["name"]:  # not a subresource (deployments/scale)
                    self._resources[(api_version, each["kind"])] = (
                        each["name"],
                        each["namespaced"],
                    )
        return self._resources[(api_version, kind)]

    def object_path(self, manifest: Manifest) -> str:
        """The REST path of a manifest's object."""
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        plural, namespaced = self.resource(api_version, kind)
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        metadata = manifest["metadata"]
        namespace = f"/namespaces/{metadata.get('namespace', 'default')}" if namespaced else ""
        return f"{prefix}{namespace}/{plural}/{metadata['name']}"

    def apply(self, manifest: Manifest, *, dry_run: bool = True) -> str | None:
        """Server-side apply (dryRun=All unless told): None if accepted, else the refusal."""
        query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict", "force": "true"}
        try:
            self.request(
                "PATCH",
                self.object_path(manifest),
                manifest,
                content_type="application/apply-patch+yaml",  # JSON is YAML
                query={"dryRun": "All", **query} if dry_run else query,
            )
        except ApiError as error:
            return error.message
        return None

    def create_namespace(self, name: str) -> None:
        """Create a namespace for real (a dry-run one would not hold the dry-run objects)."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        with contextlib.suppress(ApiError):  # 409: it exists
            self.request("POST", "/api/v1/namespaces", body)

    def install_crds(self, paths: Iterable[Path]) -> None:
        """Create each CustomResourceDefinition and wait until all are Established."""
        names = []
        for path in paths:
            # libyaml's loader where PyYAML has it: the collector's CRD takes seconds in Python.
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            crd = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
            self.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            names.append(crd["metadata"]["name"])
        for name in names:
            wait_until(
                lambda name=name: self._established(name),  # type: ignore[misc]
                ESTABLISHED_TIMEOUT_SECONDS,
                f"CRD {name} Established",
            )

    def _established(self, name: str) -> bool:
        crd = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = (crd.get("status") or {}).get("conditions") or []  # null until set
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _message(body: bytes) -> str:
    try:
        status = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip()
    return str(status.get("message", status)) if isinstance(status, dict) else str(status)


def etcd_spec(binary: str, directory: Path, client_port: int, peer_port: int) -> ServiceSpec:
    """etcd alone on loopback; no fsync, since its data is thrown away with the test."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return ServiceSpec(
        name="etcd",
        command=[
            binary,
            "--name=test",
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        env={},
        log_path=directory / "etcd.log",
        ready=lambda: http_ok(f"{client}/health"),
        ready_description=f"GET {client}/health answering 200",
        cwd=directory,
    )


def apiserver_spec(
    binary: str, directory: Path, *, port: int, etcd_url: str, token: str
) -> tuple[ServiceSpec, ApiClient]:
    """kube-apiserver on 127.0.0.1:`port` with throwaway credentials, and a client for it."""
    files = certificates.write_identity(
        directory / "serving", certificates.new_authority(), "kube-apiserver"
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signing_key, verifying_key = (
        directory / "service-account.key",
        directory / "service-account.pub",
    )
    certificates.write_private(
        signing_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    verifying_key.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    tokens = directory / "tokens.csv"
    certificates.write_private(tokens, f'{token},otel-stack-test,1,"system:masters"\n'.encode())
    client = ApiClient(f"https://127.0.0.1:{port}", token, files.ca)
    spec = ServiceSpec(
        name="kube-apiserver",
        command=[
            binary,
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={directory / 'certificates'}",
            f"--tls-cert-file={files.cert}",
            f"--tls-private-key-file={files.key}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=AlwaysAllow",
            f"--service-account-key-file={verifying_key}",
            f"--service-account-signing-key-file={signing_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--endpoint-reconciler-type=none",  # loopback may not be an endpoint address
            "--profiling=false",
            "--v=1",
        ],
        env={},
        log_path=directory / "kube-apiserver.log",
        ready=client.ready,
        ready_description=f"GET {client.url}/readyz answering 200",
        cwd=directory,
    )
    return spec, client


@contextlib.contextmanager
def running_api_server(directory: Path) -> Iterator[ApiClient]:
    """etcd and kube-apiserver, ready, stopped on exit; skip without them (REQUIRE: fail)."""
    apiserver_binary = require_tool("kube_apiserver")
    etcd_binary = require_tool("kube_apiserver", "etcd")
    client_port, peer_port, port = free_ports(3)
    with contextlib.ExitStack() as stack:
        etcd = processes.start(
            etcd_spec(etcd_binary, directory, client_port, peer_port),
            timeout=STARTUP_TIMEOUT_SECONDS,
        )
        stack.callback(etcd.stop, STOP_GRACE_SECONDS)
        spec, client = apiserver_spec(
            apiserver_binary,
            directory,
            port=port,
            etcd_url=f"http://127.0.0.1:{client_port}",
            token=secrets.token_hex(16),
        )
        started = time.monotonic()
        apiserver = processes.start(spec, timeout=STARTUP_TIMEOUT_SECONDS)
        stack.callback(apiserver.stop, STOP_GRACE_SECONDS)
        print(f"kube-apiserver ready after {time.monotonic() - started:.1f}s")
        yield client
