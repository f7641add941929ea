"""Suite 6: the order store on SQLite vs PostgreSQL, and one vs two replicas of each service.

Store throughput is measured in process: 8 threads share one store and each
makes a fixed number of calls; SQLite runs as deployed (WAL, synchronous=FULL)
and PostgreSQL with fsync on (a local server from Debian's package, the test
suite's helper). Replicas are measured end to end: N order-apis on one
PostgreSQL database and N gateways balancing over them, with one `wrk` per
gateway sharing the same total connections; requests/s are summed. On a
2-core machine the replicas compete for the same cores, so this shows what a
second replica costs or buys here, not what it buys on a second host.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.end_to_end import wrk
from services.order_api.store import Item, OrderStore, open_store
from services.stack import processes, readiness
from services.stack.processes import Service, ServiceSpec
from tests.helpers import REPO, clean_environ, free_port
from tests.postgres_tools import BIN_DIR, INSTALL_HINT, PostgresServer, running_postgres

THREADS = 8
ITEMS = (Item("sku-1", 2, 150),)
WRK_CONNECTIONS = 16


def run(quick: bool) -> dict[str, Any]:
    """Measure and return the suite's figures (or why the suite was skipped)."""
    if not (BIN_DIR / "postgres").exists():
        return {"skipped": f"PostgreSQL not found in {BIN_DIR}: {INSTALL_HINT}"}
    calls = 100 if quick else 400
    rounds = 2 if quick else 4
    seconds = 3 if quick else 8
    with running_postgres(fsync=True) as postgres, tempfile.TemporaryDirectory() as directory:
        stores = _stores(postgres, Path(directory), rounds, calls)
        replicas = _replicas(postgres, Path(directory), rounds, seconds)
    return {"store_ops_per_second": stores, "replicas": replicas, "threads": THREADS}


def _stores(
    postgres: PostgresServer, directory: Path, rounds: int, calls: int
) -> dict[str, dict[str, float]]:
    backends = {
        "sqlite": str(directory / "bench.db"),
        "postgresql": postgres.create_database(),
    }
    samples: dict[str, dict[str, list[float]]] = {
        name: {"create": [], "get": []} for name in backends
    }
    opened = {name: open_store(location) for name, location in backends.items()}
    try:
        for _ in range(rounds):
            for name, store in opened.items():  # interleaved: both see the same machine state
                created = _throughput(lambda s=store: s.create("bench", ITEMS)[0].id, calls)
                samples[name]["create"].append(created[0])
                ids = created[1]
                samples[name]["get"].append(_throughput(_getter(store, ids), calls)[0])
    finally:
        for store in opened.values():
            store.close()
    return {
        name: {op: round(statistics.median(values), 1) for op, values in ops.items()}
        for name, ops in samples.items()
    }


def _getter(store: OrderStore, ids: list[str]) -> Callable[[], str]:
    lock = threading.Lock()
    position = [0]

    def get() -> str:
        with lock:
            order_id = ids[position[0] % len(ids)]
            position[0] += 1
        assert store.get(order_id) is not None
        return order_id

    return get


def _throughput(call: Callable[[], str], calls_per_thread: int) -> tuple[float, list[str]]:
    """Calls per second with THREADS threads each making `calls_per_thread` calls."""

    def worker() -> list[str]:
        return [call() for _ in range(calls_per_thread)]

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: worker(), range(THREADS)))
    elapsed = time.perf_counter() - started
    return THREADS * calls_per_thread / elapsed, [i for ids in results for i in ids]


def _replicas(
    postgres: PostgresServer, directory: Path, rounds: int, seconds: int
) -> dict[str, dict[str, float]]:
    samples: dict[str, list[float]] = {"1": [], "2": []}
    url = postgres.create_database()
    seed = open_store(url)
    order_id = seed.create("bench", ITEMS)[0].id
    seed.close()
    with _running(1, url, directory) as one, _running(2, url, directory) as two:
        for _ in range(rounds):
            for name, gateways in (("1", one), ("2", two)):
                samples[name].append(_wrk_all(gateways, order_id, seconds))
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    return {
        "get_order_requests_per_second": medians,
        "ratio_2_to_1": {"get": round(medians["2"] / medians["1"], 2)},
    }


def _wrk_all(gateways: list[str], order_id: str, seconds: int) -> float:
    """Summed requests/s of one wrk per gateway, run at once, sharing the connections."""
    connections = max(1, WRK_CONNECTIONS // len(gateways))
    totals: list[float] = []

    def one(url: str) -> None:
        totals.append(wrk(f"{url}/orders/{order_id}", seconds, connections)["requests_per_second"])

    threads = [threading.Thread(target=one, args=(url,)) for url in gateways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(totals)


@contextmanager
def _running(replicas: int, database_url: str, directory: Path) -> Iterator[list[str]]:
    """N order-apis on the database and N gateways over all of them; yield the gateway URLs."""
    started: list[Service] = []
    with ExitStack() as stack:
        stack.callback(lambda: processes.stop_all(started, grace=10))
        targets = [f"127.0.0.1:{free_port()}" for _ in range(replicas)]
        for index, target in enumerate(targets):
            environ = clean_environ(
                ORDER_API_LISTEN=target,
                ORDER_API_DB=database_url,
                OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
                OTEL_EXPORTER_PROMETHEUS_PORT=str(free_port()),
            )
            started.append(
                processes.start(
                    _spec(
                        f"order-api-{replicas}-{index}",
                        "services.order_api",
                        environ,
                        directory,
                        lambda t=target: readiness.grpc_serving(t),
                    ),
                    timeout=30,
                )
            )
        urls = []
        for index in range(replicas):
            url = f"http://127.0.0.1:{free_port()}"
            environ = clean_environ(
                GATEWAY_LISTEN=url.removeprefix("http://"),
                ORDER_API_TARGET="ipv4:" + ",".join(targets),
            )
            started.append(
                processes.start(
                    _spec(
                        f"gateway-{replicas}-{index}",
                        "services.web_gateway",
                        environ,
                        directory,
                        lambda u=url: readiness.http_ok(f"{u}/readyz"),
                    ),
                    timeout=30,
                )
            )
            urls.append(url)
        yield urls


def _spec(
    name: str, module: str, environ: dict[str, str], directory: Path, ready: Callable[[], bool]
) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        command=[sys.executable, "-m", module],
        env=environ,
        log_path=directory / f"{name}.log",
        ready=ready,
        ready_description=f"{name} ready",
        cwd=REPO,
    )
