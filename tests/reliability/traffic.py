"""Mixed traffic for the reliability tests, counted exactly per label set.

The requests are `otel_stack.harness.mix`'s abusive mix; what is added here is the
accounting: every answer counted under the labels the gateway must record for
it, every order-api call under its method and final code, and every surprise
kept as an error. A request is never retried (a retry could be served twice).
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from otel_stack.harness.mix import (
    ABUSIVE_WEIGHTS,
    Kind,
    KnownOrders,
    RpcLabels,
    created_order_id,
    next_request,
)
from tests.support.http_client import HttpClient

# (method, route, status_code) of http_requests_total.
HttpLabels = tuple[str, str, str]


@dataclass
class Tally:
    """What a run of traffic sent, counted per label set, and what went wrong."""

    http: Counter[HttpLabels] = field(default_factory=Counter)
    rpc: Counter[RpcLabels] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    requests: int = 0

    def add(self, other: Tally) -> None:
        """Merge another tally into this one."""
        self.http.update(other.http)
        self.rpc.update(other.rpc)
        self.errors.extend(other.errors)
        self.requests += other.requests

    def statuses(self) -> Counter[int]:
        """Responses per HTTP status code."""
        counts: Counter[int] = Counter()
        for (_, _, status), count in self.http.items():
            counts[int(status)] += count
        return counts


def run_mixed_traffic(
    base_url: str,
    *,
    clients: int,
    requests_per_client: int,
    seconds: float,
    seed: int = 0,
    rate_per_client: float | None = None,
) -> Tally:
    """Send the mix from `clients` threads, each until it has sent its requests or time is up.

    Without `rate_per_client` each client sends as fast as it gets answers; with
    it, each keeps to that many requests per second. Every response is counted
    under the label set the gateway must record for it; the order-api calls are
    counted only for responses with the expected status (the others are errors,
    and their RPCs cannot be known). Each client reads only orders it created.
    """
    deadline = time.monotonic() + seconds
    tallies = [Tally() for _ in range(clients)]

    def client(index: int) -> None:
        tally = tallies[index]
        rng, known = random.Random(seed * 1000 + index), KnownOrders()
        customers = (f"mix-{seed}-{index}",)
        next_at = time.monotonic()
        with HttpClient(base_url) as connection:
            for _ in range(requests_per_client):
                if rate_per_client is not None:
                    next_at += 1 / rate_per_client
                    time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
                if time.monotonic() >= deadline:
                    break
                request = next_request(rng, known, ABUSIVE_WEIGHTS, customers)
                described = f"{request.kind} {request.method} {request.path}"
                tally.requests += 1
                try:
                    reply = connection.request(
                        request.method, request.path, request.body, request.headers
                    )
                except (OSError, http.client.HTTPException) as error:
                    tally.errors.append(f"{described}: {error!r}")
                    continue
                tally.http[(request.method, request.route, str(reply.status))] += 1
                if reply.status != request.status:
                    tally.errors.append(f"{described}: {reply.status} {reply.body[:200]!r}")
                    continue
                if request.rpc is not None:
                    tally.rpc[request.rpc] += 1
                order_id = (
                    created_order_id(reply.body) if request.kind is Kind.CREATE_ORDER else None
                )
                if order_id is not None:
                    known.add(order_id)

    threads = [
        threading.Thread(target=client, args=(index,), name=f"mixed-{index}")
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    assert not any(thread.is_alive() for thread in threads), "a traffic thread hung"
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total
