"""Suite 8: the order store on SQLite vs PostgreSQL, and one vs two replicas of each service.

Store throughput is measured in process: 8 threads share one store and each
makes a fixed number of calls; SQLite runs as deployed (WAL, synchronous=FULL)
and PostgreSQL with fsync on (a local server from Debian's package,
`otel_stack.harness.local_postgres`). Replicas are measured end to end: N order-apis on one
PostgreSQL database and N gateways balancing over them, with one `wrk` per
gateway sharing the same total connections; requests/s are summed. On a
2-core machine the replicas compete for the same cores, so this shows what a
second replica costs or buys here, not what it buys on a second host.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.end_to_end import wrk
from otel_stack.harness import processes, running
from otel_stack.harness.child_environ import child_environ
from otel_stack.harness.local_postgres import (
    PostgresNotFoundError,
    PostgresServer,
    find_binaries,
    running_postgres,
)
from otel_stack.harness.processes import Service
from otel_stack.harness.running import StackPorts, free_ports
from services.order_api.backends import open_store
from services.order_api.store import Item, OrderStore

THREADS = 8
ITEMS = (Item("sku-1", 2, 150),)
WRK_CONNECTIONS = 16


def run(quick: bool) -> dict[str, Any]:
    """Measure and return the suite's figures (or why the suite was skipped)."""
    try:
        find_binaries()
    except PostgresNotFoundError as error:
        return {"skipped": str(error)}
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
                created = _throughput(_creator(store), calls)
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


def _creator(store: OrderStore) -> Callable[[], str]:
    def create() -> str:
        return store.create("bench", ITEMS)[0].id

    return create


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
    free = free_ports(3 * replicas)
    pairs = [StackPorts(*free[3 * index : 3 * index + 3]) for index in range(replicas)]
    target = "ipv4:" + ",".join(ports.grpc_target for ports in pairs)
    specs = [
        running.service_specs(
            ports,
            directory / f"replicas-{replicas}-{index}",
            child_environ(),
            launcher=False,
            db=database_url,
            order_api_target=target,
        )
        for index, ports in enumerate(pairs)
    ]
    started: list[Service] = []
    with ExitStack() as stack:
        stack.callback(lambda: processes.stop_all(started, grace=10))
        # Every order-api first, then the gateways over all of them.
        for spec in [order_api for order_api, _ in specs] + [gateway for _, gateway in specs]:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            started.append(processes.start(spec, timeout=30))
        yield [ports.gateway_url for ports in pairs]
