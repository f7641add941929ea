"""Stopping the order-api without failing a call: clients are told first, the server stops after.

grpc's server shutdown fails the calls that have reached the server but not yet
the application with CANCELLED (grpc/grpc#41785, open in grpcio 1.85), a status
no client may retry: it could mean the call ran. So a stopping order-api first
sets its health to NOT_SERVING; clients that watch it (the gateway does:
client-side health checking, gRFC A17) send their next calls to other replicas.
Once no call has arrived for QUIET_SECONDS (waiting at most NOTICE_SECONDS and
never more than half the grace), the server stops, and the calls in flight get
what is left of the grace. A client that does not watch the health service may
still see that CANCELLED if its call arrives as the server stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health

# No call for this long: the clients have moved on (a watching client moves within a round trip).
QUIET_SECONDS = 0.2
# The longest a stopping server waits for calls to stop arriving (clients that do not watch).
NOTICE_SECONDS = 2.0


class CallArrivals(grpc.ServerInterceptor):
    """Remembers when the last call reached the application (every method, every kind)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.last = clock()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        self.last = self._clock()
        return continuation(handler_call_details)

    def wait_for_quiet(self, quiet: float, limit: float) -> float:
        """Wait until no call arrived for `quiet` seconds (`limit` at most); return the wait."""
        started = self._clock()
        while True:
            now = self._clock()
            silent, waited = now - self.last, now - started
            if silent >= quiet or waited >= limit:
                return waited
            self._sleep(min(quiet - silent, limit - waited))


def stop_gracefully(
    server: grpc.Server,
    health_servicer: health.HealthServicer,
    arrivals: CallArrivals,
    grace: float,
) -> None:
    """Tell the clients, wait for their calls to stop arriving, then stop within `grace` seconds."""
    health_servicer.enter_graceful_shutdown()
    waited = arrivals.wait_for_quiet(QUIET_SECONDS, min(NOTICE_SECONDS, grace / 2))
    server.stop(max(grace - waited, 0.0)).wait()
