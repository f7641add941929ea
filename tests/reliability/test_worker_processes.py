"""Both services as N worker processes (GATEWAY_PROCESSES, ORDER_API_PROCESSES): metrics stay true.

One stack per parameter — gateway 4 workers with order-api 2, then gateway 2 with
order-api 4 — each started once and taken through four phases in order:

1. A known request mix from 8 clients while both `/metrics` are scraped at least
   50 times: no counter or histogram series ever decreases, and the sums over the
   workers equal what the clients were answered (through `/metrics`, and through a
   real Prometheus when it is built).
2. SIGKILL of one worker of each service under a stream of creates: each is started
   again (logged, counted in `service_worker_restarts_total`), every order answered
   `201` is readable afterwards, clients see at most the requests in flight fail, and
   the only series that go down are the killed workers' own (a reset per series).
3. After the restart, another known mix moves the sums by exactly what was sent.
4. SIGTERM to each supervisor: every worker drains and exits, the supervisor exits 0.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from otel_stack.harness.running import GATEWAY, ORDER_API, Stack, running_stack
from otel_stack.harness.scrape import Exposition, ScrapeError, fetch, scrape
from services.supervisor import ALL_WORKERS_SERVING
from tests.reliability.counts import (
    delta,
    grpc_requests,
    http_requests,
    prometheus_counts,
    prometheus_installed,
    prometheus_scraping,
)
from tests.reliability.traffic import Tally, run_mixed_traffic
from tests.support.http_client import HttpClient, order_body
from tests.support.polling import wait_until
from tests.support.prometheus import Prometheus, assert_promtool_clean
from tests.support.tools import require_tool

CLIENTS = 8
REQUESTS_PER_CLIENT = 100
SCRAPES = 50
# Counter-like samples: none of them may ever go down within one series.
MONOTONIC_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
CREATE_CLIENTS = 4
CREATES_PER_CLIENT = 300

SeriesKey = tuple[str, frozenset[tuple[str, str]]]


@dataclass
class Watch:
    """Every monotonic series of both services, scraped again and again while traffic runs."""

    stack: Stack
    scrapes: int = 0
    # (service, series) -> (worker, value before, value after) of every decrease seen
    decreases: list[tuple[str, SeriesKey, float, float]] = field(default_factory=list)
    _last: dict[tuple[str, SeriesKey], float] = field(default_factory=dict)

    def scrape_once(self) -> None:
        """Scrape both services and note each series that went down since the last scrape."""
        for service, url in (
            (GATEWAY, self.stack.gateway_url + "/metrics"),
            (ORDER_API, self.stack.order_api_metrics_url),
        ):
            for key, value in _monotonic_series(scrape(url, timeout=20)).items():
                before = self._last.get((service, key))
                if before is not None and value < before:
                    self.decreases.append((service, key, before, value))
                self._last[(service, key)] = value
        self.scrapes += 1

    def during(self, traffic: threading.Thread, *, at_least: int = SCRAPES) -> None:
        """Scrape until `traffic` is over and `at_least` scrapes were made."""
        while traffic.is_alive() or self.scrapes < at_least:
            self.scrape_once()


def _monotonic_series(exposition: Exposition) -> dict[SeriesKey, float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in exposition.families
        if family.type in ("counter", "histogram")
        for sample in family.samples
        if sample.name.endswith(MONOTONIC_SUFFIXES)
    }


def _workers(stack: Stack, service: str) -> list[psutil.Process]:
    return psutil.Process(stack.services[service].pid).children()


def _restarts(stack: Stack, service: str) -> dict[str, float]:
    url = stack.gateway_url + "/metrics" if service == GATEWAY else stack.order_api_metrics_url
    counts = scrape(url).counter("service_worker_restarts_total", ("worker",))
    return {worker: value for (worker,), value in counts.items()}


@dataclass
class Phases:
    """One stack and what each phase saw, filled in as the tests go."""

    stack: Stack
    gateway_workers: int
    order_api_workers: int
    prometheus: Prometheus | None
    data_dir: Path
    killed: dict[str, str] = field(default_factory=dict)  # service -> worker index
    # What the mix phase left on the counters, summed over workers.
    expected_http: Counter[Any] = field(default_factory=Counter)
    expected_grpc: Counter[Any] = field(default_factory=Counter)


@pytest.fixture(scope="module", params=[(4, 2), (2, 4)], ids=["gateway4-api2", "gateway2-api4"])
def phases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Phases]:
    gateway_workers, order_api_workers = request.param
    data_dir = tmp_path_factory.mktemp("workers")
    environ = {
        "GATEWAY_PROCESSES": str(gateway_workers),
        "ORDER_API_PROCESSES": str(order_api_workers),
        "ACCESS_LOG": "off",
    }
    with ExitStack() as resources:
        stack = resources.enter_context(
            running_stack(data_dir, environ=environ, worker_processes=max(request.param))
        )
        prometheus = None
        if prometheus_installed():
            prometheus = resources.enter_context(
                prometheus_scraping(tmp_path_factory.mktemp("prometheus"), stack)
            )
        yield Phases(stack, gateway_workers, order_api_workers, prometheus, data_dir)


def test_each_service_runs_its_workers_under_one_supervisor(phases: Phases) -> None:
    stack = phases.stack
    assert len(_workers(stack, GATEWAY)) == phases.gateway_workers
    assert len(_workers(stack, ORDER_API)) == phases.order_api_workers
    gateway = scrape(stack.gateway_url + "/metrics")
    order_api = scrape(stack.order_api_metrics_url)
    for exposition, count in (
        (gateway, phases.gateway_workers),
        (order_api, phases.order_api_workers),
    ):
        infos = exposition.samples("target_info")
        assert sorted(sample.labels["worker"] for sample in infos) == [str(i) for i in range(count)]
        instance_ids = {sample.labels["service_instance_id"] for sample in infos}
        assert len(instance_ids) == count
        assert all(
            instance_id.endswith(f"-{sample.labels['worker']}")
            for sample in infos
            for instance_id in [sample.labels["service_instance_id"]]
        )


def test_the_merged_endpoints_are_valid_in_both_formats(phases: Phases) -> None:
    urls = (phases.stack.gateway_url + "/metrics", phases.stack.order_api_metrics_url)
    for url, count in zip(urls, (phases.gateway_workers, phases.order_api_workers), strict=True):
        # The strict OpenMetrics parser: one family block each, one # EOF.
        openmetrics = scrape(url, openmetrics=True)
        assert len(openmetrics.samples("target_info")) == count
        if prometheus_installed():
            assert_promtool_clean(fetch(url))


def test_sums_over_workers_equal_the_mix_and_no_series_ever_decreases(phases: Phases) -> None:
    stack = phases.stack
    before_http = http_requests(stack.gateway_url + "/metrics")
    before_grpc = grpc_requests(stack.order_api_metrics_url)
    tallies: list[Tally] = []
    traffic = threading.Thread(
        target=lambda: tallies.append(
            run_mixed_traffic(
                stack.gateway_url,
                clients=CLIENTS,
                requests_per_client=REQUESTS_PER_CLIENT,
                seconds=180,
                seed=phases.gateway_workers,
            )
        )
    )
    watch = Watch(stack)
    traffic.start()
    watch.during(traffic)
    traffic.join()
    (tally,) = tallies
    assert tally.errors == []
    assert watch.scrapes >= SCRAPES
    assert watch.decreases == []
    assert delta(http_requests(stack.gateway_url + "/metrics"), before_http) == dict(tally.http)
    assert delta(grpc_requests(stack.order_api_metrics_url), before_grpc) == dict(tally.rpc)
    # Every worker took part: the kernel spread the connections.
    gateway = scrape(stack.gateway_url + "/metrics")
    served = gateway.counter("http_requests_total", ("worker",))
    assert len([value for value in served.values() if value]) >= 2
    phases.expected_http = before_http + tally.http
    phases.expected_grpc = before_grpc + tally.rpc


def test_prometheus_stores_the_same_sums(phases: Phases) -> None:
    require_tool("prometheus")
    assert phases.prometheus is not None
    _assert_prometheus_has(phases.prometheus, phases.expected_http, phases.expected_grpc)
    workers = {
        series["metric"]["job"]: int(float(series["value"][1]))
        for series in phases.prometheus.query("count by (job) (target_info)")
    }
    assert workers == {GATEWAY: phases.gateway_workers, ORDER_API: phases.order_api_workers}


def _assert_prometheus_has(
    prometheus: Prometheus, http_expected: Counter[Any], grpc_expected: Counter[Any]
) -> None:
    ended = time.time()
    wait_until(
        lambda: (
            prometheus.scraped_after(GATEWAY, ended) and prometheus.scraped_after(ORDER_API, ended)
        ),
        30,
        "a Prometheus scrape of both services after the traffic",
    )
    labels = ("method", "route", "status_code")
    stored = prometheus_counts(
        prometheus, f'sum by ({",".join(labels)}) (http_requests_total{{job="{GATEWAY}"}})', labels
    )
    assert +stored == +http_expected
    stored_grpc = prometheus_counts(
        prometheus,
        f'sum by (method, status) (grpc_requests_total{{job="{ORDER_API}"}})',
        ("method", "status"),
    )
    assert +stored_grpc == +grpc_expected


@dataclass
class Stream:
    """Creates with Idempotency-Keys from a few clients, and what they were answered."""

    acknowledged: list[str] = field(default_factory=list)  # order ids answered 201
    failed: list[str] = field(default_factory=list)
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _create_stream(base_url: str, client: int, stop: threading.Event, stream: Stream) -> None:
    for number in range(CREATES_PER_CLIENT):
        if stop.is_set():
            return
        key = f"kill-{client}-{number}"
        body = order_body(f"kill-{client}")
        # A connection per request: a kept-alive one to a killed worker would fail a request
        # that was never in flight there.
        with HttpClient(base_url, timeout=30) as client_connection:
            try:
                reply = client_connection.post_json("/orders", body, {"Idempotency-Key": key})
            except (OSError, http.client.HTTPException) as error:
                with stream.lock:
                    stream.sent += 1
                    stream.failed.append(f"{key}: {error!r}")
                continue
        with stream.lock:
            stream.sent += 1
            if reply.status == 201:
                stream.acknowledged.append(str(reply.json()["id"]))
            else:
                stream.failed.append(f"{key}: {reply.status} {reply.body[:100]!r}")


def test_a_killed_worker_is_replaced_and_no_acknowledged_order_is_lost(phases: Phases) -> None:
    stack = phases.stack
    stream, stop = Stream(), threading.Event()
    threads = [
        threading.Thread(target=_create_stream, args=(stack.gateway_url, client, stop, stream))
        for client in range(CREATE_CLIENTS)
    ]
    watch = Watch(stack)
    watch.scrape_once()
    for thread in threads:
        thread.start()
    wait_until(lambda: len(stream.acknowledged) >= 30, 60, "30 orders acknowledged")
    victims = {GATEWAY: _workers(stack, GATEWAY)[0], ORDER_API: _workers(stack, ORDER_API)[-1]}
    pids = {service: process.pid for service, process in victims.items()}
    for process in victims.values():
        process.kill()
    for service, pid in pids.items():
        wait_until(
            _noticed_death(stack, service, pid),
            30,
            f"the {service} supervisor noticing worker pid {pid} died",
        )
    for service, count in (
        (GATEWAY, phases.gateway_workers),
        (ORDER_API, phases.order_api_workers),
    ):
        wait_until(
            _slots_filled(stack, service, count, set(pids.values())),
            60,
            f"{service}: every worker slot filled again",
        )
    wait_until(lambda: len(stream.acknowledged) >= 90, 120, "orders acknowledged after the kill")
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    watch.during(threads[0], at_least=3)

    # Replaced, and counted once against the killed worker's slot.
    for service in (GATEWAY, ORDER_API):
        restarts = _restarts(stack, service)
        assert sum(restarts.values()) == 1, (service, restarts)
        phases.killed[service] = next(worker for worker, count in restarts.items() if count)
    # Clients saw at most the requests in flight at the two kills fail.
    assert len(stream.failed) <= 2 * CREATE_CLIENTS, stream.failed
    # Nothing acknowledged is lost.
    with HttpClient(stack.gateway_url) as reader:
        missing = [
            order_id
            for order_id in stream.acknowledged
            if reader.get(f"/orders/{order_id}").status != 200
        ]
    assert missing == []
    # Only the killed workers' own series went down (each a counter reset).
    for service, (name, labels), _before, _after in watch.decreases:
        assert dict(labels).get("worker") == phases.killed[service], (service, name, dict(labels))


def test_sums_stay_exact_after_the_restart(phases: Phases) -> None:
    stack = phases.stack
    wait_until(
        lambda: (
            stack.log(GATEWAY).count(ALL_WORKERS_SERVING) >= 1
            and all(_workers_serve(stack, service) for service in (GATEWAY, ORDER_API))
        ),
        60,
        "every worker serving again",
    )
    before_http = http_requests(stack.gateway_url + "/metrics")
    before_grpc = grpc_requests(stack.order_api_metrics_url)
    tally = run_mixed_traffic(
        stack.gateway_url, clients=4, requests_per_client=50, seconds=120, seed=99
    )
    assert tally.errors == []
    assert delta(http_requests(stack.gateway_url + "/metrics"), before_http) == dict(tally.http)
    assert delta(grpc_requests(stack.order_api_metrics_url), before_grpc) == dict(tally.rpc)


def _noticed_death(stack: Stack, service: str, pid: int) -> Callable[[], bool]:
    return lambda: f"(pid {pid}) died (killed by SIGKILL)" in stack.log(service)


def _slots_filled(stack: Stack, service: str, count: int, dead: set[int]) -> Callable[[], bool]:
    return lambda: len([p for p in _workers(stack, service) if p.pid not in dead]) == count


def _workers_serve(stack: Stack, service: str) -> bool:
    url = stack.gateway_url + "/metrics" if service == GATEWAY else stack.order_api_metrics_url
    try:
        infos = scrape(url).samples("target_info")
    except ScrapeError:
        return False
    return len(infos) == len(_workers(stack, service))


def test_sigterm_drains_every_worker_and_the_supervisor_exits_0(phases: Phases) -> None:
    stack = phases.stack
    workers = {service: _workers(stack, service) for service in (GATEWAY, ORDER_API)}
    for service in (GATEWAY, ORDER_API):
        assert stack.stop(service) == 0
        _gone, alive = psutil.wait_procs(workers[service], timeout=30)
        assert alive == []
        assert "stopped" in stack.log(service).splitlines()[-1]
