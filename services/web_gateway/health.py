"""The gateway's health listener: `/healthz` and `/readyz` on a port of their own.

At GATEWAY_MAX_CONNECTIONS the main port answers every new connection `503`,
the kubelet's probes included: a client holding that many idle connections
would turn overload into a restart loop. GATEWAY_HEALTH_LISTEN adds a second,
plaintext listener (as the order-api's ORDER_API_HEALTH_LISTEN) that serves only
`GET /healthz` and `GET /readyz`, answered by the app's own routes (same
semantics as on the main port: readiness asks the order-api's health service),
and `404` for anything else. It is a `GatewayServer` of its own: its
connections do not count against GATEWAY_MAX_CONNECTIONS, it has its own
worker threads (a main port whose threads all wait on a slow order-api does not
delay a probe), and its own small bound and short deadlines, so a flood on the
health port is refused there without touching the main port.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from typing import Any

from services.web_gateway.server import GatewayServer, ServerSettings, WsgiApp, create_server

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
# Probes come from one kubelet, a few at a time; readiness may wait up to a second
# on the order-api, so a few threads keep liveness answering meanwhile.
HEALTH_SETTINGS = ServerSettings(
    threads=4,
    max_connections=32,
    header_timeout=2.0,
    body_timeout=2.0,
    keepalive_timeout=10.0,
    max_header_bytes=4 * 1024,
    max_body_bytes=0,
    app_max_body_bytes=0,
)

_NOT_FOUND = json.dumps(
    {"error": {"code": "not_found", "message": "this port serves only /healthz and /readyz"}}
).encode()


def health_only(app: WsgiApp) -> WsgiApp:
    """`app` restricted to `GET`/`HEAD` of `/healthz` and `/readyz`; JSON 404 for the rest."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") in HEALTH_PATHS and method in ("GET", "HEAD"):
            return app(environ, start_response)  # type: ignore[no-any-return]
        start_response(
            "404 NOT FOUND",
            [("Content-Type", "application/json"), ("Content-Length", str(len(_NOT_FOUND)))],
        )
        return [b""] if method == "HEAD" else [_NOT_FOUND]

    return serve


def create_health_server(
    app: WsgiApp, address: tuple[str, int], *, reuse_port: bool = False
) -> GatewayServer:
    """Bind the health listener for `app` (OSError when the address is taken); `serve` runs it."""
    settings = dataclasses.replace(HEALTH_SETTINGS, reuse_port=reuse_port)
    return create_server(health_only(app), address, settings)
