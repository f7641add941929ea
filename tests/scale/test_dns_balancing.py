"""One gateway over order-api replicas found through a real DNS server (dnsmasq), as a
Kubernetes headless Service gives them: every replica gets a share, a replica added
to the name is used once the others' connections reach ORDER_API_MAX_CONNECTION_AGE,
a replica removed (record gone, SIGTERM) costs no request.

Everything runs in network namespaces (tests/scale/dns_cluster.py); every load is
bounded in count and time. A control first shows why the age matters: without it,
a replica added to the name gets no call. Then the tests run in order on one
cluster: 3 replicas, then a 4th, then one fewer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from otel_stack.harness.mix import EXAMPLE_ORDER
from tests.scale.dns_cluster import DnsCluster, dns_cluster
from tests.support.http_client import HttpClient
from tests.support.polling import wait_until
from tests.support.tools import require_tool

logger = logging.getLogger(__name__)

CALLS = 600
# Each replica's least share of CALLS among 3 (round_robin gives about a third each).
LEAST_SHARE = 0.2
CONCURRENCY = 4
# Short, so a test sees the re-resolution it causes; the default is 30 s.
CONNECTION_AGE = 2.0
STEADY_MAX_REQUESTS = 20_000
STEADY_MAX_SECONDS = 180.0
STEADY_PAUSE = 0.01
DEADLINE = 60.0
# A new replica is used after the others' connections reach their age, plus a re-resolution
# and a connection: about CONNECTION_AGE; this leaves ten times that for a busy machine.
NEW_REPLICA_DEADLINE = CONNECTION_AGE + 20.0
# The longest age the order-api accepts (a day): in effect, connections never end.
NO_CONNECTION_AGE = 86400.0
# How long the control test watches a published replica stay unused: many times CONNECTION_AGE.
CONTROL_SECONDS = 5 * CONNECTION_AGE
CONTROL_PAUSE = 0.1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsCluster]:
    require_tool("netns")
    require_tool("dnsmasq")
    with dns_cluster(
        tmp_path_factory.mktemp("dns"), replicas=3, spare=1, connection_age=CONNECTION_AGE
    ) as running:
        yield running


def _client(cluster: DnsCluster) -> HttpClient:
    return HttpClient(cluster.gateway_url, timeout=10.0, loopback_only=False)


def _call(client: HttpClient, index: int) -> int:
    """One request: mostly GET /orders (ListOrders), every fifth a POST (CreateOrder)."""
    if index % 5 == 4:
        return client.post_json("/orders", {**EXAMPLE_ORDER, "customer_id": f"c-{index}"}).status
    return client.get("/orders").status


def _send(cluster: DnsCluster, count: int) -> Counter[int]:
    """`count` requests through the gateway from host `gw`, CONCURRENCY at a time: statuses."""

    def run() -> Counter[int]:
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        indexes = iter(range(count))

        def worker() -> None:
            client = _client(cluster)
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                status = _call(client, index)
                with lock:
                    statuses[status] += 1

        threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        return statuses

    return cluster.hosts["gw"].call(run)


def _served(cluster: DnsCluster, names: list[str]) -> Counter[str]:
    return Counter({name: cluster.served(name) for name in names})


def _answered(status: int) -> bool:
    return status in (200, 201)


@dataclass
class SteadyClient:
    """Requests one after another from host `gw` until stopped (or its bounds): the statuses."""

    cluster: DnsCluster
    statuses: Counter[int] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sending."""
        self.thread = threading.Thread(
            target=lambda: self.cluster.hosts["gw"].call(self._run, timeout=STEADY_MAX_SECONDS + 30)
        )
        self.thread.start()

    def _run(self) -> None:
        client = _client(self.cluster)
        deadline = time.monotonic() + STEADY_MAX_SECONDS
        for index in range(STEADY_MAX_REQUESTS):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            self.statuses[_call(client, index)] += 1
            time.sleep(STEADY_PAUSE)

    def finish(self) -> Counter[int]:
        """Stop sending and return what was answered."""
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=60)
        return self.statuses


@pytest.fixture(scope="module")
def steady(cluster: DnsCluster) -> Iterator[SteadyClient]:
    client = SteadyClient(cluster)
    yield client
    client.finish()


# --- 0. Control: without a connection age, a new replica is never used ------------------------


def test_0_without_a_connection_age_a_replica_added_to_the_name_gets_no_call(
    tmp_path: Path,
) -> None:
    """Why ORDER_API_MAX_CONNECTION_AGE exists: gRPC resolves again only when a connection ends."""
    require_tool("netns")
    with dns_cluster(tmp_path, replicas=1, spare=1, connection_age=NO_CONNECTION_AGE) as control:
        control.start_replica("r2")
        control.publish(["r1", "r2"])
        wait_until(lambda: len(control.resolve()) == 2, DEADLINE, "the second record")
        deadline = time.monotonic() + CONTROL_SECONDS
        sent = 0
        while time.monotonic() < deadline:
            sent += sum(_send(control, CONCURRENCY).values())
            time.sleep(CONTROL_PAUSE)

        logger.info(
            "control: %d calls in %gs, r2 served %d", sent, CONTROL_SECONDS, control.served("r2")
        )
        assert sent > 0 and control.served("r1") >= sent
        assert control.served("r2") == 0


# --- 1. Three replicas share the calls -------------------------------------------------------


def test_1_each_of_three_replicas_serves_a_share(cluster: DnsCluster) -> None:
    replicas = ["r1", "r2", "r3"]
    assert sorted(cluster.resolve()) == sorted(cluster.hosts[n].address for n in replicas)

    def all_served() -> bool:
        _send(cluster, CONCURRENCY)
        return all(_served(cluster, replicas).values())

    # round_robin uses a replica once its connection is ready: wait until all three served.
    wait_until(all_served, DEADLINE, "every replica to serve a call")
    before = _served(cluster, replicas)

    statuses = _send(cluster, CALLS)

    assert sum(n for s, n in statuses.items() if _answered(s)) == CALLS, statuses
    served = _served(cluster, replicas) - before
    logger.info("three replicas served %s of %d calls", dict(served), CALLS)
    # Gateway retries would add calls; none were needed.
    assert served.total() == CALLS, served
    for name in replicas:
        assert served[name] >= LEAST_SHARE * CALLS, served


# --- 2. A fourth record and replica ------------------------------------------------------------


def test_2_a_replica_added_to_the_name_receives_calls(
    cluster: DnsCluster, steady: SteadyClient
) -> None:
    steady.start()
    cluster.start_replica("r4")
    _send(cluster, 100)
    # Running but not in DNS: nothing reaches it.
    assert cluster.served("r4") == 0

    cluster.publish(["r1", "r2", "r3", "r4"])
    published = time.monotonic()
    wait_until(lambda: len(cluster.resolve()) == 4, DEADLINE, "the fourth record")
    # The gateway learns of it when a connection reaches its age and it resolves again.
    wait_until(
        lambda: cluster.served("r4") > 0, NEW_REPLICA_DEADLINE, "a call on the fourth replica"
    )
    logger.info(
        "fourth replica served its first call %.1fs after its record (connection age %gs)",
        time.monotonic() - published,
        CONNECTION_AGE,
    )

    before = _served(cluster, ["r1", "r2", "r3", "r4"])
    _send(cluster, 200)
    served = _served(cluster, ["r1", "r2", "r3", "r4"]) - before
    logger.info("four replicas served %s of 200 calls (and the steady client's)", dict(served))
    assert served["r4"] > 0, served
    so_far = dict(steady.statuses)
    assert all(_answered(status) for status in so_far), so_far


# --- 3. One replica removed --------------------------------------------------------------------


def test_3_a_replica_removed_costs_no_request_and_its_share_moves(
    cluster: DnsCluster, steady: SteadyClient
) -> None:
    remaining = ["r1", "r3", "r4"]
    bursts: list[Counter[int]] = []
    burst = threading.Thread(target=lambda: bursts.append(_send(cluster, 200)))
    burst.start()  # calls in flight while r2 leaves, besides the steady client's
    cluster.publish(remaining)
    assert cluster.stop_replica("r2") == 0
    burst.join(timeout=120)
    (during,) = bursts
    assert all(_answered(status) for status in during), during
    answered = steady.finish()
    assert sum(answered.values()) > 0
    assert all(_answered(status) for status in answered), answered

    # Without the steady client, every call counted below is one of these.
    before = _served(cluster, remaining)
    statuses = _send(cluster, CALLS // 2)

    assert sum(n for s, n in statuses.items() if _answered(s)) == CALLS // 2, statuses
    served = _served(cluster, remaining) - before
    logger.info(
        "r2 removed during a burst answered %s; then %s of %d calls; steady client %s",
        dict(during),
        dict(served),
        CALLS // 2,
        dict(answered),
    )
    assert served.total() == CALLS // 2, served
    for name in remaining:
        assert served[name] >= LEAST_SHARE * (CALLS // 2), served
