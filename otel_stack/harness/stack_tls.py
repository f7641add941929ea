"""Every hop of a local stack over TLS: a throwaway CA, one identity per component, the variables.

`create(directory)` makes the CA and the certificates (`otel_stack.harness.certificates`)
under `directory` (owner-only); the methods say which variables point each
component at its files: the order-api serves gRPC with mTLS and `/metrics` with
TLS requiring a client certificate; the gateway presents its certificate to the
order-api; the services' OTLP exporters trust the CA and present their
certificate to the collector, which requires one; Prometheus presents its
certificate to the order-api's `/metrics`.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from otel_stack.harness.certificates import IdentityFiles, new_authority, write_identity
from otel_stack.harness.processes import ServiceSpec

# Every certificate also names localhost, 127.0.0.1 and ::1 (the hops of a local stack).
ORDER_API = "order-api"
WEB_GATEWAY = "web-gateway"
COLLECTOR = "otel-collector"
PROMETHEUS = "prometheus"


@dataclass(frozen=True)
class StackTls:
    """The files of one local stack's identities (each dir holds tls.crt, tls.key, ca.crt)."""

    directory: Path
    order_api: IdentityFiles
    web_gateway: IdentityFiles
    collector: IdentityFiles
    prometheus: IdentityFiles

    @property
    def ca(self) -> Path:
        """The CA certificate every identity trusts."""
        return self.order_api.ca

    def order_api_environ(self, *, client_auth: bool = True) -> dict[str, str]:
        """gRPC and /metrics over TLS; with `client_auth`, both require client certificates."""
        files = self.order_api
        environ = {
            "ORDER_API_TLS_CERT": str(files.cert),
            "ORDER_API_TLS_KEY": str(files.key),
            "ORDER_API_METRICS_TLS_CERT": str(files.cert),
            "ORDER_API_METRICS_TLS_KEY": str(files.key),
        }
        if client_auth:
            environ["ORDER_API_TLS_CLIENT_CA"] = str(files.ca)
            environ["ORDER_API_METRICS_TLS_CLIENT_CA"] = str(files.ca)
        return environ

    def gateway_environ(self) -> dict[str, str]:
        """The gateway's channel: trust the CA, present the gateway's certificate.

        The order-api's certificate is checked for `localhost`, whatever the target
        (an `ipv4:` list of replicas names no host).
        """
        return {
            "ORDER_API_SERVER_NAME": "localhost",
            "ORDER_API_CA": str(self.web_gateway.ca),
            "ORDER_API_CLIENT_CERT": str(self.web_gateway.cert),
            "ORDER_API_CLIENT_KEY": str(self.web_gateway.key),
        }

    def otlp_environ(self, identity: IdentityFiles) -> dict[str, str]:
        """The standard OTLP exporter variables: trust the CA, present `identity`."""
        return {
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(identity.ca),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(identity.cert),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(identity.key),
        }

    def collector_environ(self, *, client_auth: bool = True) -> dict[str, str]:
        """collector-config.yaml's receiver TLS; with `client_auth`, client certificates too."""
        environ = {
            "OTELCOL_OTLP_TLS": "true",
            "OTELCOL_OTLP_TLS_CERT_FILE": str(self.collector.cert),
            "OTELCOL_OTLP_TLS_KEY_FILE": str(self.collector.key),
        }
        if client_auth:
            environ["OTELCOL_OTLP_TLS_CLIENT_CA_FILE"] = str(self.collector.ca)
        return environ

    def services_environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """`environ` with both services' TLS variables (each reads its own) and, when it
        pushes OTLP to an http:// endpoint, that endpoint as https:// trusting the CA."""
        result = {**environ, **self.order_api_environ(), **self.gateway_environ()}
        endpoint = result.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        if endpoint.startswith("http://"):
            result["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://" + endpoint.removeprefix("http://")
            result |= self.otlp_environ(self.web_gateway)
        return result

    def with_own_otlp_identity(self, spec: ServiceSpec) -> ServiceSpec:
        """`spec` presenting its own service's certificate to the collector (if it pushes OTLP)."""
        if "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" not in spec.env:
            return spec
        identity = self.order_api if spec.name.startswith(ORDER_API) else self.web_gateway
        return dataclasses.replace(spec, env={**spec.env, **self.otlp_environ(identity)})

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting the CA and presenting Prometheus' certificate (scrapes)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.prometheus.cert), str(self.prometheus.key))
        return context


def create(directory: Path) -> StackTls:
    """A fresh CA and the four identities under `directory` (mode 0700, files 0600)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    authority = new_authority()
    identities = {
        name: write_identity(directory / name, authority, name)
        for name in (ORDER_API, WEB_GATEWAY, COLLECTOR, PROMETHEUS)
    }
    return StackTls(
        directory,
        identities[ORDER_API],
        identities[WEB_GATEWAY],
        identities[COLLECTOR],
        identities[PROMETHEUS],
    )
