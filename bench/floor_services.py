"""A service at the floor of an unsampled request: suite 3 only.

`python -m bench.floor_services services.web_gateway` (or `services.order_api`),
under `opentelemetry-instrument` and configured like the service itself: the
service's own entry point, with the project's gRPC tracing replaced by suite
13's floor (`bench.profiles`), the least that carries an unsampled trace across
the call. The gateway's channel only injects the current context into the
call's metadata (upstream's `propagate.inject`) under the services' metrics;
the order-api's first interceptor only extracts the caller's context and makes
it current around the handler, before the services' metrics interceptor.
Everything else is the service as deployed: upstream's Flask instrumentation
with the SDK's tracer, the exemplar filter, the access lines, the runtime
metrics.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

import grpc

from bench import profiles
from otel import grpc_client, grpc_interceptors
from otel.sdk import Telemetry

SERVICES = ("services.web_gateway", "services.order_api")


def _floor_interceptors(
    telemetry: Telemetry, services: Sequence[str]
) -> list[grpc.ServerInterceptor]:
    """The floor's interceptors; `services` is the order-api's alone (`floor_interceptors`)."""
    del services
    return profiles.floor_interceptors(telemetry)


def install_floor() -> None:
    """Put the floor where the entry points look the project's gRPC tracing up, at each call."""
    grpc_client.instrument_channel = profiles.injecting_channel
    grpc_interceptors.server_interceptors = _floor_interceptors


def main(argv: Sequence[str]) -> int:
    """Run the service named in `argv` with the floor in place of the project's gRPC tracing."""
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python -m bench.floor_services {{{','.join(SERVICES)}}}", file=sys.stderr)
        return 2
    install_floor()
    sys.argv = [argv[0]]
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
