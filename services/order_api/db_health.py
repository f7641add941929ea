"""The order-api's gRPC health follows its database: NOT_SERVING while the store cannot answer.

A background thread pings the store at a fixed interval and sets the standard
health service's status for the whole server ("") and for OrderService, so a
load balancer or Kubernetes probe takes a replica out while its database is
unreachable and puts it back once the database answers again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from grpc_health.v1 import health, health_pb2

from services.order_api.store import OrderStore

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DatabaseHealth:
    """Keeps the health status of `services` in step with `store.ping()`."""

    def __init__(
        self,
        store: OrderStore,
        health_servicer: health.HealthServicer,
        services: Sequence[str],
        *,
        interval_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._health = health_servicer
        self._services = tuple(services)
        self._interval = interval_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-health", daemon=True)
        self._serving = True

    def start(self) -> None:
        """Start checking in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop checking (before the server enters graceful shutdown)."""
        self._stopping.set()
        self._thread.join()

    def check(self) -> bool:
        """Ping the store once and publish the result; return whether it answered."""
        serving = self._store.ping()
        if serving == self._serving:
            # Unchanged: nothing to publish. The health servicer sends every `set` to every
            # Watch stream, and a client re-reading READY may rebuild its round_robin picker
            # at a random replica, so a retry could land on the replica that just failed.
            return serving
        logger.warning(
            "database %s: health %s",
            "answers again" if serving else "unreachable",
            "SERVING" if serving else "NOT_SERVING",
        )
        self._serving = serving
        for name in self._services:
            self._health.set(name, SERVING if serving else NOT_SERVING)
        return serving

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self.check()
