"""Replicas on separate hosts (network namespaces): exact sums, one host lost and back, races.

host-a and host-b each run a gateway and an order-api; host-c runs PostgreSQL
and Prometheus; the test's requests come from a client host. Every load is
bounded in count and time, and every address is inside the namespaces the
test created. The tests run in order on one cluster: each scenario starts
from where the previous one left it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from otel_stack.harness.load import LoadConfig, LoadGenerator, LoadSummary
from otel_stack.harness.mix import EXAMPLE_ORDER
from services.web_gateway.convert import IDEMPOTENCY_KEY_HEADER
from tests.scale.cluster import APP_HOSTS, Cluster, running_cluster
from tests.support.http_client import HttpClient
from tests.support.polling import wait_until
from tests.support.tools import require_tool

LOAD_REQUESTS = 150
LOAD_SECONDS = 20.0
ORDERS_PER_GATEWAY = 15
RACES = 15
# The order-api RPC behind each gateway answer. A POST answered 400 was refused either
# by the gateway (no RPC) or by the order-api (CreateOrder INVALID_ARGUMENT): bounded below.
RPC_OF_ANSWER = {
    ("POST", "/orders", "201"): ("CreateOrder", "OK"),
    ("POST", "/orders", "200"): ("CreateOrder", "OK"),
    ("GET", "/orders/<order_id>", "200"): ("GetOrder", "OK"),
    ("GET", "/orders/<order_id>", "404"): ("GetOrder", "NOT_FOUND"),
    ("GET", "/orders", "200"): ("ListOrders", "OK"),
    ("POST", "/orders", "400"): None,
}
INVALID_CREATE = ("CreateOrder", "INVALID_ARGUMENT")
NOT_TRAFFIC = 'route!~"/healthz|/readyz"'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_tool("netns")
    require_tool("prometheus")
    with running_cluster(tmp_path_factory.mktemp("scale")) as running:
        yield running


def _values(cluster: Cluster, expr: str, labels: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    return {
        tuple(series["metric"].get(label, "") for label in labels): round(  # type: ignore[attr-defined]
            float(series["value"][1])  # type: ignore[index]
        )
        for series in cluster.query(expr)
    }


def _up(cluster: Cluster) -> dict[tuple[str, str], int]:
    found = _values(cluster, "up", ("job", "instance"))
    return {(job, instance): value for (job, instance), value in found.items()}


def _load(cluster: Cluster, host: str) -> LoadSummary:
    config = LoadConfig(
        target=cluster.gateway_url(host),
        rate=30.0,
        duration=LOAD_SECONDS,
        max_requests=LOAD_REQUESTS,
        concurrency=2,
        seed=len(host),
        allow_remote=True,
    )

    def run() -> LoadSummary:
        generator = LoadGenerator(config)
        generator.start()
        generator.wait(timeout=LOAD_SECONDS + 30)
        return generator.summary()

    return cluster.hosts["client"].call(run)


def _client(cluster: Cluster, host: str) -> HttpClient:
    return HttpClient(cluster.gateway_url(host), timeout=10.0, loopback_only=False)


def _create(
    cluster: Cluster, host: str, customer: str, key: str | None = None
) -> tuple[int, dict[str, object]]:
    def post() -> tuple[int, dict[str, object]]:
        headers = {IDEMPOTENCY_KEY_HEADER: key} if key else None
        reply = _client(cluster, host).post_json(
            "/orders", {**EXAMPLE_ORDER, "customer_id": customer}, headers
        )
        return reply.status, json.loads(reply.body)

    return cluster.hosts["client"].call(post)


def _get(cluster: Cluster, host: str, order_id: str) -> tuple[int, dict[str, object]]:
    def get() -> tuple[int, dict[str, object]]:
        reply = _client(cluster, host).get(f"/orders/{order_id}")
        return reply.status, json.loads(reply.body)

    return cluster.hosts["client"].call(get)


# --- 1. Sums over instances equal what was answered -------------------------------------------


def test_1_sums_over_instances_equal_what_the_gateways_answered(cluster: Cluster) -> None:
    answered: Counter[tuple[str, str, str]] = Counter()
    summaries: list[LoadSummary] = []
    threads = [
        threading.Thread(target=lambda h=host: summaries.append(_load(cluster, h)))
        for host in APP_HOSTS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 60)
    assert len(summaries) == 2
    for summary in summaries:
        assert not summary.failures, summary.failure_reasons
        for (method, route, status), count in summary.counts.items():
            answered[(method, route, str(status))] += count
    expected_rpcs: Counter[tuple[str, str]] = Counter()
    for labels, count in answered.items():
        rpc = RPC_OF_ANSWER[labels]
        if rpc is not None:
            expected_rpcs[rpc] += count

    def sums() -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
        http = _values(
            cluster,
            "sum by (method, route, status_code)"
            f' (http_requests_total{{job="web-gateway", {NOT_TRAFFIC}}})',
            ("method", "route", "status_code"),
        )
        grpc = _values(
            cluster,
            'sum by (method, status) (grpc_requests_total{job="order-api"})',
            ("method", "status"),
        )
        invalid = grpc.pop(INVALID_CREATE, 0)
        assert invalid <= answered[("POST", "/orders", "400")]
        return http, {k: v for k, v in grpc.items() if v}

    expected = (dict(answered), dict(expected_rpcs))
    try:
        wait_until(lambda: sums() == expected, 30, "Prometheus sums to equal the answers")
    finally:
        assert sums() == expected
    # Both gateways carried traffic: the sums are over two instances.
    per_instance = _values(
        cluster,
        f'sum by (instance) (http_requests_total{{job="web-gateway", {NOT_TRAFFIC}}})',
        ("instance",),
    )
    assert len(per_instance) == 2 and all(per_instance.values())


# --- 2. host-b cut off, then killed ------------------------------------------------------------


def test_2_losing_host_b_loses_no_answered_order_and_alerts_for_b_only(cluster: Cluster) -> None:
    created: dict[str, dict[str, object]] = {}
    for index in range(ORDERS_PER_GATEWAY):
        for host in APP_HOSTS:
            status, order = _create(cluster, host, f"before-{host}-{index}")
            assert status == 201
            created[str(order["id"])] = order

    cluster.hosts["b"].cut_off()
    for index in range(ORDERS_PER_GATEWAY):
        status, order = _create(cluster, "a", f"during-{index}")
        assert status == 201
        created[str(order["id"])] = order
    cluster.kill_app("b")
    for index in range(ORDERS_PER_GATEWAY):
        status, order = _create(cluster, "a", f"after-{index}")
        assert status == 201
        created[str(order["id"])] = order

    for order_id, order in created.items():
        assert _get(cluster, "a", order_id) == (200, order)

    b_targets, a_targets = cluster.instances("b"), cluster.instances("a")
    wait_until(
        lambda: {k for k, v in _up(cluster).items() if v == 0} == b_targets,
        30,
        "up == 0 for host-b's targets only",
    )
    assert all(_up(cluster)[target] == 1 for target in a_targets)

    def firing() -> set[tuple[str, ...]]:
        alerts = _values(
            cluster, 'ALERTS{alertname="TargetDown", alertstate="firing"}', ("job", "instance")
        )
        return set(alerts)

    wait_until(lambda: firing() == b_targets, 30, "TargetDown firing for host-b's targets only")


# --- 3. host-b comes back ----------------------------------------------------------------------


def test_3_host_b_rejoins_without_restarting_anything_else(cluster: Cluster) -> None:
    others = {
        service.name: service.pid for services in cluster.services.values() for service in services
    }
    cluster.hosts["b"].reconnect()
    cluster.start_app("b")

    everything = cluster.instances("a") | cluster.instances("b")
    wait_until(
        lambda: {k for k, v in _up(cluster).items() if v == 1} == everything,
        30,
        "every target up again",
    )
    still = {s.name: s.pid for services in cluster.services.values() for s in services}
    assert {name: still[name] for name in others} == others
    assert cluster.prometheus.process.poll() is None


# --- 4. The same Idempotency-Key through two gateways at once ----------------------------------


def test_4_one_key_sent_through_two_gateways_at_once_stores_one_order(cluster: Cluster) -> None:
    for index in range(RACES):
        key = f"race-{index}"
        barrier = threading.Barrier(len(APP_HOSTS))
        replies: dict[str, tuple[int, dict[str, object]]] = {}

        threads = [
            threading.Thread(target=_race, args=(cluster, host, key, barrier, replies))
            for host in APP_HOSTS
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        statuses = sorted(status for status, _ in replies.values())
        assert statuses == [200, 201], replies
        assert len({str(order["id"]) for _, order in replies.values()}) == 1, replies

    def keyed_orders() -> list[tuple[str, int]]:  # run on host-c, where PostgreSQL listens
        with psycopg.connect(cluster.database_url) as conn:
            rows = conn.execute(
                "SELECT idempotency_key, count(*) FROM orders"
                " WHERE idempotency_key LIKE 'race-%' GROUP BY idempotency_key"
            ).fetchall()
        return [(str(key), int(count)) for key, count in rows]

    rows = cluster.hosts["c"].call(keyed_orders)
    assert len(rows) == RACES
    assert all(count == 1 for _, count in rows)


def _race(
    cluster: Cluster,
    host: str,
    key: str,
    barrier: threading.Barrier,
    replies: dict[str, tuple[int, dict[str, object]]],
) -> None:
    barrier.wait(timeout=10)
    replies[host] = _create(cluster, host, "racer", key)
