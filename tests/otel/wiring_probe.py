"""Wire both services as their entry points do, print what got instrumented as JSON, exit.

`python -m tests.otel.wiring_probe` (or under `opentelemetry-instrument`): reads
the OTEL_* variables like a service, builds and installs telemetry, builds the
gateway's app and order-api client (`services.web_gateway.__main__.build`) and
the order-api's server (`services.order_api.__main__.build_server`), serves
nothing, and prints what wraps the Flask app, which interceptors and wrappers
sit on the channel, which interceptors on the server, which gRPC services their tracing
leaves out, and whether runtime metrics are on.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import grpc
from flask import Flask
from grpc_health.v1 import health
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

from otel import settings
from otel.grpc_client import MeteredChannel
from otel.sdk import build_and_install
from otel.settings import TelemetrySettings
from services.order_api import __main__ as order_api_main
from services.order_api.config import Config as OrderApiConfig
from services.order_api.store_sqlite import SqliteOrderStore
from services.web_gateway import __main__ as gateway_main
from services.web_gateway.config import Config as GatewayConfig


def qualified_name(obj: object) -> str:
    """`module.QualName` of a function or method, else of the object's class."""
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def describe_app(app: Flask) -> dict[str, Any]:
    """The app's class, whether upstream Flask instrumentation is on it, its WSGI layers."""
    layers = []
    layer: object = app.wsgi_app
    while layer is not None:
        layers.append(qualified_name(layer))
        layer = getattr(layer, "_wsgi_app", None)
    return {
        "class": qualified_name(app),
        "upstream_flask": bool(getattr(app, "_is_instrumented_by_opentelemetry", False)),
        "wsgi": layers,
    }


def describe_channel(channel: grpc.Channel) -> list[str]:
    """What is wrapped around a client channel, outermost first: interceptors and wrappers."""
    layers = []
    layer: Any = channel  # every wrapper holds the channel it wraps in `_channel`
    while True:
        if isinstance(layer, MeteredChannel):
            layers.append(qualified_name(layer))
        elif hasattr(layer, "_traced"):  # otel.grpc_tracing's short path beside upstream's
            layers.append(qualified_name(layer))
            layer = layer._traced
            continue
        elif hasattr(layer, "_interceptor"):  # grpc's and upstream's interceptor wrappers
            layers.append(qualified_name(layer._interceptor))
        else:
            return layers
        layer = layer._channel


def describe_server(server: grpc.Server) -> list[str]:
    """The server's interceptors in call order."""
    pipeline = server._state.interceptor_pipeline  # type: ignore[attr-defined]
    names = []
    for each in pipeline.interceptors if pipeline else ():
        names.append(qualified_name(each))
        if hasattr(each, "_upstream"):  # otel.grpc_tracing's wrapper of upstream's interceptor
            names.append(qualified_name(each._upstream))
    return names


def excluded_services(channel: grpc.Channel, server: grpc.Server) -> dict[str, list[str]]:
    """The gRPC services the tracing wrappers on the channel and the server leave untraced."""
    layer: Any = channel
    on_channel: frozenset[str] = frozenset()
    while layer is not None:
        on_channel |= getattr(layer, "_excluded", frozenset())
        layer = getattr(layer, "_channel", None)
    pipeline = server._state.interceptor_pipeline  # type: ignore[attr-defined]
    interceptors = pipeline.interceptors if pipeline else ()
    on_server: list[frozenset[str]] = [
        getattr(each, "_excluded", frozenset()) for each in interceptors
    ]
    return {"channel": sorted(on_channel), "server": sorted(frozenset().union(*on_server))}


def main() -> int:
    """Wire, describe, print."""
    telemetry = build_and_install("wiring-probe", TelemetrySettings.from_env(os.environ))
    app, client = gateway_main.build(GatewayConfig(order_api_target="127.0.0.1:9"), telemetry)
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteOrderStore(Path(directory) / "orders.db")
        config = OrderApiConfig(listen=("127.0.0.1", 0), max_workers=1)
        server, _port = order_api_main.build_server(
            config, telemetry, store, health.HealthServicer()
        )
        wiring = {
            "app": describe_app(app),
            "channel": describe_channel(client.channel),
            "server": describe_server(server),
            "excluded_services": excluded_services(client.channel, server),
            "runtime_metrics": settings.already_instrumented(SystemMetricsInstrumentor),
        }
        server.stop(None)
        store.close()
    client.close()
    telemetry.shutdown()
    json.dump(wiring, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
