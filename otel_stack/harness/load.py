"""The traffic generator: paced HTTP requests against the web-gateway, counted exactly.

Open-loop pacing: request *n* is due at `start + n / rate` whatever happened
to earlier ones (with `rate` 0 every worker sends as fast as it can). A fixed
pool of worker threads, each with its own keep-alive `http.client`
connection, takes the next due slot, so a slow gateway shows up as latency
and a lower achieved rate rather than as silently fewer requests per second
of load. Runs are bounded by duration, request count and concurrency, and by
default only loopback targets are allowed.

`LoadGenerator` is used in-process by `otel-stack up`, by `otel-stack load`
and by tests; its `LoadSummary` counts responses per (method, route
template, status), the same label set as the gateway's `http_requests_total`.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from otel_stack import default_ports
from otel_stack.harness.histograms import Bucket
from otel_stack.harness.latency import LatencyRecorder, LatencyStats
from otel_stack.harness.mix import Kind, KnownOrders, Request, created_order_id, next_request

logger = logging.getLogger(__name__)

MAX_DURATION_SECONDS = 24 * 3600.0
MAX_CONCURRENCY = 64
MAX_REQUESTS = 10_000_000
MAX_RATE = 10_000.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# How a keep-alive connection the server has since closed fails on its next use.
STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
)


class LoadConfigError(ValueError):
    """Load settings that are out of bounds or a target that is not allowed."""


@dataclass(frozen=True)
class LoadConfig:
    """What to send, where, how fast and for how long."""

    target: str = default_ports.GATEWAY_URL
    rate: float = 50.0
    duration: float | None = 10.0
    max_requests: int | None = None
    concurrency: int = 4
    seed: int | None = None
    allow_remote: bool = False
    timeout: float = 10.0

    def validate(self) -> None:
        """Raise LoadConfigError naming the first setting that is out of bounds."""
        check_target(self.target, allow_remote=self.allow_remote)
        if not 0 <= self.rate <= MAX_RATE:
            raise LoadConfigError(f"rate must be between 0 and {MAX_RATE:g} requests/s")
        if self.duration is not None and not 0 < self.duration <= MAX_DURATION_SECONDS:
            raise LoadConfigError(f"duration must be between 0 and {MAX_DURATION_SECONDS:g} s")
        if self.max_requests is not None and not 1 <= self.max_requests <= MAX_REQUESTS:
            raise LoadConfigError(f"requests must be between 1 and {MAX_REQUESTS}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise LoadConfigError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")


def check_target(url: str, *, allow_remote: bool) -> tuple[str, int]:
    """Return (host, port) of an http:// target; raise LoadConfigError if it is not allowed."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise LoadConfigError(f"target {url!r}: expected http://HOST:PORT")
    try:
        port = parsed.port or 80
    except ValueError:
        raise LoadConfigError(f"target {url!r}: bad port") from None
    if not allow_remote and not is_loopback(parsed.hostname):
        raise LoadConfigError(
            f"target {url!r} is not a loopback address; pass --allow-remote to send load to it"
        )
    return parsed.hostname, port


def is_loopback(host: str) -> bool:
    """Whether `host` is localhost, 127.0.0.0/8 or ::1 (by name or address, no DNS lookup)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LoadSummary:
    """What a run sent and got back."""

    counts: Mapping[tuple[str, str, int], int]
    by_kind: Mapping[tuple[Kind, int], int]
    failures: Mapping[Kind, int]
    latency: LatencyStats
    elapsed: float
    failure_reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def responses(self) -> int:
        """Requests that got an HTTP response."""
        return sum(self.counts.values())

    @property
    def total(self) -> int:
        """Requests sent, answered or not."""
        return self.responses + sum(self.failures.values())

    @property
    def achieved_rate(self) -> float:
        """Requests per second actually sent."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0


class LoadGenerator:
    """Sends the request mix from `concurrency` worker threads until a bound is reached."""

    def __init__(self, config: LoadConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        config.validate()
        self._config = config
        self._host, self._port = check_target(config.target, allow_remote=config.allow_remote)
        self._clock = clock
        self._known = KnownOrders()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._issued = 0
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._by_kind: Counter[tuple[Kind, int]] = Counter()
        self._failures: Counter[Kind] = Counter()
        self._reasons: Counter[str] = Counter()
        self._latency = LatencyRecorder()
        self._route_latency: dict[str, LatencyRecorder] = {}
        self._threads: list[threading.Thread] = []
        self._started = 0.0
        self._finished: float | None = None

    def start(self) -> None:
        """Start the workers; returns at once."""
        self._started = self._clock()
        seed = self._config.seed
        for index in range(self._config.concurrency):
            rng = random.Random(None if seed is None else seed * 1000 + index)  # noqa: S311
            thread = threading.Thread(
                target=self._work, args=(rng,), name=f"load-worker-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        logger.info(
            "load: %s req/s against %s with %d workers",
            self._config.rate or "max",
            self._config.target,
            self._config.concurrency,
        )

    def stop(self) -> None:
        """Ask the workers to finish after their current request."""
        self._stopping.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every worker to finish; return whether they all did."""
        deadline = None if timeout is None else self._clock() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - self._clock())
            thread.join(remaining)
        return self.done

    @property
    def done(self) -> bool:
        """Whether every worker has finished."""
        return all(not thread.is_alive() for thread in self._threads)

    def run(self) -> LoadSummary:
        """Start, wait until a bound is reached, and return the summary."""
        self.start()
        self.wait()
        return self.summary()

    def summary(self) -> LoadSummary:
        """Counts so far (final once `done`)."""
        with self._lock:
            end = self._finished if self.done and self._finished else self._clock()
            return LoadSummary(
                counts=dict(self._counts),
                by_kind=dict(self._by_kind),
                failures=dict(self._failures),
                latency=self._latency.stats(),
                elapsed=max(0.0, end - self._started),
                failure_reasons=dict(self._reasons),
            )

    def latency_by_route(self) -> dict[str, list[Bucket]]:
        """Latencies measured so far per `METHOD /route` (cumulative buckets, any status)."""
        with self._lock:
            return {name: recorder.cumulative() for name, recorder in self._route_latency.items()}

    def _work(self, rng: random.Random) -> None:
        # One keep-alive connection per worker; after close() the next request reconnects.
        connection = http.client.HTTPConnection(
            self._host, self._port, timeout=self._config.timeout
        )
        try:
            while (due := self._next_slot()) is not None:
                if self._stopping.wait(max(0.0, due - self._clock())):
                    break
                self._send(connection, next_request(rng, self._known))
        finally:
            connection.close()
            with self._lock:
                self._finished = self._clock()

    def _next_slot(self) -> float | None:
        """The time the next request is due, or None when a bound is reached."""
        config = self._config
        with self._lock:
            if self._stopping.is_set():
                return None
            if config.max_requests is not None and self._issued >= config.max_requests:
                return None
            due = self._started + (self._issued / config.rate if config.rate else 0.0)
            # A backlog of overdue requests is not sent after the end either.
            latest = max(due, self._clock())
            if config.duration is not None and latest >= self._started + config.duration:
                return None
            self._issued += 1
            return due

    def _send(self, connection: http.client.HTTPConnection, request: Request) -> None:
        """Send one request and record the outcome (closing the connection if it is unusable)."""
        began = self._clock()
        reused = connection.sock is not None
        try:
            try:
                status, body, will_close = _exchange(connection, request)
            except STALE_CONNECTION_ERRORS:
                if not reused:
                    raise
                # The server closed an idle keep-alive connection: retry once on a new one.
                connection.close()
                status, body, will_close = _exchange(connection, request)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            self._record_failure(request, error)
            return
        elapsed = self._clock() - began
        if will_close:
            connection.close()
        if request.kind is Kind.CREATE_ORDER and status == 201:
            order_id = created_order_id(body)
            if order_id is not None:
                self._known.add(order_id)
        with self._lock:
            self._counts[(request.method, request.route, status)] += 1
            self._by_kind[(request.kind, status)] += 1
            self._latency.record(elapsed)
            route = f"{request.method} {request.route}"
            self._route_latency.setdefault(route, LatencyRecorder()).record(elapsed)

    def _record_failure(self, request: Request, error: Exception) -> None:
        logger.debug("load: %s %s failed: %s", request.method, request.path, error)
        with self._lock:
            self._failures[request.kind] += 1
            self._reasons[type(error).__name__] += 1


def _exchange(connection: http.client.HTTPConnection, request: Request) -> tuple[int, bytes, bool]:
    """One request and its whole response: (status, body, whether the server closes)."""
    connection.request(request.method, request.path, body=request.body, headers=request.headers)
    response = connection.getresponse()
    return response.status, response.read(), response.will_close
