"""Shared by the reliability tests: a keep-alive HTTP client, mixed traffic with exact accounting,
raw HTTP exchanges, RSS readings, and a Prometheus scraping both services.

Everything talks to 127.0.0.1 only. Every loop here is bounded both in count and in time.
"""

from __future__ import annotations

import http.client
import json
import random
import select
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import psutil

from services.stack.prometheus_config import local_targets, render
from tests.prometheus_tools import Prometheus, running_prometheus
from tests.telemetry.scrape import scrape
from tests.telemetry.services import Stack

GATEWAY = "web-gateway"
ORDER_API = "order-api"
JSON_HEADERS = {"Content-Type": "application/json"}

# (method, route, status_code) of http_requests_total; (method, status) of grpc_requests_total.
HttpLabels = tuple[str, str, str]
RpcLabels = tuple[str, str]


# --- HTTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One complete HTTP response."""

    status: int
    headers: Message
    body: bytes
    seconds: float

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        """The media type without parameters."""
        return self.headers.get_content_type()


class HttpClient:
    """One keep-alive HTTP/1.1 connection to a loopback server; use one per thread.

    A failed request closes the connection and raises: it is never retried here,
    because a retry could be served twice and break exact accounting.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, *, loopback_only: bool = True) -> None:
        parts = urllib.parse.urlsplit(base_url)
        # Off only for addresses inside network namespaces a test created (tests/scale).
        assert parts.hostname is not None and parts.port is not None, base_url
        assert parts.hostname == "127.0.0.1" or not loopback_only, base_url
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request and read the whole response."""
        started = time.perf_counter()
        try:
            self._connection.request(method, path, body=body, headers=dict(headers or {}))
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._connection.close()
            raise
        return Reply(response.status, response.headers, data, time.perf_counter() - started)

    def get(self, path: str) -> Reply:
        """GET `path`."""
        return self.request("GET", path)

    def post_json(
        self, path: str, document: object, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """POST `document` as JSON."""
        body = json.dumps(document).encode()
        return self.request("POST", path, body, {**JSON_HEADERS, **(headers or {})})

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_RAW_PIECE = 16 * 1024


def raw_exchange(port: int, data: bytes, *, half_close: bool = False, timeout: float = 10) -> Reply:
    """Send raw bytes to 127.0.0.1:`port` and parse the one HTTP response that comes back.

    Sends in pieces and stops as soon as the server starts answering (it may
    refuse a huge request after its first bytes and close); `half_close` shuts
    the writing side afterwards, so the server sees the end of the body.
    """
    method = data.split(b" ", 1)[0].decode("latin-1")
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for offset in range(0, len(data), _RAW_PIECE):
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(data[offset : offset + _RAW_PIECE])
            except (BrokenPipeError, ConnectionResetError):
                break
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        body = response.read()
    return Reply(response.status, response.headers, body, time.perf_counter() - started)


def order_body(customer_id: str, *, sku: str = "sku-1", quantity: int = 1) -> dict[str, Any]:
    """A valid POST /orders document."""
    return {
        "customer_id": customer_id,
        "items": [{"sku": sku, "quantity": quantity, "unit_price_cents": 250}],
    }


def assert_json_error(reply: Reply, status: int, code: str | None = None) -> None:
    """`reply` is the gateway's JSON error document with this status (and code)."""
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.content_type == "application/json", reply.headers
    document = reply.json()
    assert set(document) == {"error"} and set(document["error"]) == {"code", "message"}
    if code is not None:
        assert document["error"]["code"] == code, document


# --- Mixed traffic with exact accounting -------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of the mix and exactly what the services must count for it."""

    kind: str
    method: str
    path: str
    status: int
    route: str
    rpc: RpcLabels | None = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


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


# Relative weights of the request kinds in the mix.
MIX_WEIGHTS = {
    "create": 20,
    "read": 20,
    "list": 14,
    "missing": 10,
    "bad_id": 5,
    "malformed_json": 8,
    "wrong_type": 6,
    "invalid_order": 8,
    "unmatched": 5,
    "wrong_method": 2,
    "wrong_media_type": 2,
}
_ORDER_ROUTE = "/orders"
_ONE_ORDER_ROUTE = "/orders/<order_id>"


class MixedTraffic:
    """The request stream of one client: creates, reads, lists, 404s and invalid bodies.

    Deterministic for a seed. Reads use orders this stream created (a create is
    sent instead while there is none yet).
    """

    def __init__(self, seed: int, customer_id: str) -> None:
        self._random = random.Random(seed)
        self._customer_id = customer_id
        self._created: list[str] = []
        self._kinds = list(MIX_WEIGHTS)
        self._weights = list(MIX_WEIGHTS.values())

    def next_call(self) -> Call:
        """Choose the next request."""
        kind = self._random.choices(self._kinds, self._weights)[0]
        if kind == "read" and not self._created:
            kind = "create"
        return getattr(self, f"_{kind}")()

    def observe(self, call: Call, reply: Reply) -> None:
        """Remember orders created by this stream."""
        if call.kind == "create" and reply.status == 201:
            self._created.append(reply.json()["id"])

    def _post(self, kind: str, body: bytes, status: int, rpc: RpcLabels | None) -> Call:
        return Call(kind, "POST", "/orders", status, _ORDER_ROUTE, rpc, body, JSON_HEADERS)

    def _create(self) -> Call:
        body = json.dumps(order_body(self._customer_id, quantity=self._random.randint(1, 9)))
        return self._post("create", body.encode(), 201, ("CreateOrder", "OK"))

    def _read(self) -> Call:
        order_id = self._random.choice(self._created)
        return Call("read", "GET", f"/orders/{order_id}", 200, _ONE_ORDER_ROUTE, ("GetOrder", "OK"))

    def _list(self) -> Call:
        path = f"/orders?customer_id={self._customer_id}&page_size=5"
        return Call("list", "GET", path, 200, _ORDER_ROUTE, ("ListOrders", "OK"))

    def _missing(self) -> Call:
        path = f"/orders/missing-{self._random.randrange(10**9)}"
        return Call("missing", "GET", path, 404, _ONE_ORDER_ROUTE, ("GetOrder", "NOT_FOUND"))

    def _bad_id(self) -> Call:
        # Longer than any id can be: the gateway answers 404 without asking the order-api.
        return Call("bad_id", "GET", "/orders/" + "x" * 65, 404, _ONE_ORDER_ROUTE)

    def _malformed_json(self) -> Call:
        return self._post("malformed_json", b'{"customer_id": "c", "items": [', 400, None)

    def _wrong_type(self) -> Call:
        body = {"customer_id": self._customer_id, "items": [{"sku": "s", "quantity": "2"}]}
        return self._post("wrong_type", json.dumps(body).encode(), 400, None)

    def _invalid_order(self) -> Call:
        # Well-formed, but the order-api rejects a zero quantity: INVALID_ARGUMENT, then 400.
        body = json.dumps(order_body(self._customer_id, quantity=0)).encode()
        return self._post("invalid_order", body, 400, ("CreateOrder", "INVALID_ARGUMENT"))

    def _unmatched(self) -> Call:
        return Call(
            "unmatched", "GET", f"/no/such/{self._random.randrange(1000)}", 404, "unmatched"
        )

    def _wrong_method(self) -> Call:
        # No rule matches a method a route does not allow, so the route label is "unmatched".
        return Call("wrong_method", "DELETE", "/orders", 405, "unmatched")

    def _wrong_media_type(self) -> Call:
        headers = {"Content-Type": "text/plain"}
        return Call("wrong_media_type", "POST", "/orders", 415, _ORDER_ROUTE, None, b"x", headers)


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
    and their RPCs cannot be known).
    """
    deadline = time.monotonic() + seconds
    tallies = [Tally() for _ in range(clients)]

    def client(index: int) -> None:
        tally = tallies[index]
        traffic = MixedTraffic(seed * 1000 + index, f"mix-{seed}-{index}")
        next_at = time.monotonic()
        with HttpClient(base_url) as connection:
            for _ in range(requests_per_client):
                if rate_per_client is not None:
                    next_at += 1 / rate_per_client
                    time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
                if time.monotonic() >= deadline:
                    break
                call = traffic.next_call()
                tally.requests += 1
                try:
                    reply = connection.request(call.method, call.path, call.body, call.headers)
                except (OSError, http.client.HTTPException) as error:
                    tally.errors.append(f"{call.kind} {call.method} {call.path}: {error!r}")
                    continue
                tally.http[(call.method, call.route, str(reply.status))] += 1
                if reply.status != call.status:
                    answer = f"{reply.status} {reply.body[:200]!r}"
                    tally.errors.append(f"{call.kind} {call.method} {call.path}: {answer}")
                    continue
                if call.rpc is not None:
                    tally.rpc[call.rpc] += 1
                traffic.observe(call, reply)

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


# --- Metrics ----------------------------------------------------------------------------------


def http_requests(url: str) -> Counter[HttpLabels]:
    """`http_requests_total` per (method, route, status_code) from a /metrics scrape."""
    return _counts(url, "http_requests_total", ("method", "route", "status_code"))


def http_duration_counts(url: str) -> Counter[HttpLabels]:
    """`http_request_duration_seconds_count` per (method, route, status_code)."""
    return _counts(url, "http_request_duration_seconds_count", ("method", "route", "status_code"))


def grpc_requests(url: str) -> Counter[RpcLabels]:
    """`grpc_requests_total` per (method, status) from the order-api's /metrics."""
    return _counts(url, "grpc_requests_total", ("method", "status"))


def _counts(url: str, name: str, labels: tuple[str, ...]) -> Counter[Any]:
    counts: Counter[tuple[str, ...]] = Counter()
    for sample in scrape(url).samples:
        if sample.name == name:
            counts[tuple(sample.labels[label] for label in labels)] = int(sample.value)
    return counts


def delta(after: Counter[Any], before: Counter[Any]) -> dict[Any, int]:
    """Per label set, how much a counter moved (label sets that did not move are left out)."""
    moved = {key: after[key] - before[key] for key in after.keys() | before.keys()}
    return {key: value for key, value in moved.items() if value}


def sample_lines(text: str) -> int:
    """The number of samples (non-comment lines) in an exposition."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


# --- Processes --------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """The resident set size of a process."""
    return int(psutil.Process(pid).memory_info().rss)


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for `process` to exit; return its code and how long it took (SIGKILL on timeout)."""
    started = time.monotonic()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"pid {process.pid} did not exit within {timeout:g}s") from None
    return code, time.monotonic() - started


# --- Prometheus -------------------------------------------------------------------------------


def prometheus_installed() -> bool:
    """Whether the `prometheus` binary is on PATH."""
    return shutil.which("prometheus") is not None


@contextmanager
def prometheus_scraping(directory: Path, stack: Stack) -> Iterator[Prometheus]:
    """A Prometheus scraping both services of `stack` every second (project config, no rules)."""
    targets = local_targets(_port(stack.gateway_url), _port(stack.order_api_metrics_url))
    config = render(targets, scrape_interval="1s", rule_files=())
    with running_prometheus(directory, config) as prometheus:
        yield prometheus


def prometheus_counts(prometheus: Prometheus, expr: str, labels: tuple[str, ...]) -> Counter[Any]:
    """The value of each series of `expr`, keyed by the values of `labels`."""
    counts: Counter[tuple[str, ...]] = Counter()
    for series in prometheus.query(expr):
        key = tuple(series["metric"].get(label, "") for label in labels)
        counts[key] = int(float(series["value"][1]))
    return counts


def _port(url: str) -> int:
    return int(urllib.parse.urlsplit(url).port or 0)
