"""Slow and idle clients: hundreds of abusive connections at once do not take the gateway down.

Each kind of abuse opens ABUSERS loopback connections and keeps them abusive for
ABUSE_SECONDS, reopening any the gateway closes, while a well-behaved client
checks `/healthz` and reads an order on fresh connections every PROBE_INTERVAL:
every one of its calls must succeed within a second. The gateway runs with
2-second read deadlines, so each abusive connection is cut during the window
(proving the deadlines hold against a byte-a-second dribble), and its threads
and descriptors come back to their idle level afterwards. A second gateway
with a small connection limit shows the excess refused with a 503 while the
connections it holds keep working.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from otel_stack.harness.running import GATEWAY, Stack, running_stack
from tests.support.flood import close_all, connect, open_connections, refusals
from tests.support.http_client import HttpClient, Probe, order_body, probe
from tests.support.polling import wait_until

ABUSERS = 300
ABUSE_SECONDS = 5.0
TICK_SECONDS = 0.5  # an abusive connection sends its next byte this often
READ_TIMEOUT_SECONDS = 2
PROBE_INTERVAL = 0.25
PROMPT_SECONDS = 1.0  # the promise: no call of the well-behaved client takes longer
# A deadline is checked about once a second, and the loop may be busy: time to cut allowed.
CUT_MARGIN_SECONDS = 2.5
MAX_REOPENS = 3 * ABUSERS

SLOW_ENVIRON = {
    "GATEWAY_HEADER_TIMEOUT": str(READ_TIMEOUT_SECONDS),
    "GATEWAY_BODY_TIMEOUT": str(READ_TIMEOUT_SECONDS),
    "GATEWAY_KEEPALIVE_TIMEOUT": str(READ_TIMEOUT_SECONDS),
}


@dataclass(frozen=True)
class Kind:
    """One kind of abusive client: what it sends on connecting, and then every tick."""

    opening: bytes
    dribble: bytes = b""


KINDS = {
    "headers-never-finished": Kind(b"GET /orders HTTP/1.1\r\nHost: x\r\n", b"X"),
    "body-one-byte-at-a-time": Kind(
        b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n",
        b" ",
    ),
    "idle-keep-alive-after-a-request": Kind(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    "open-and-silent": Kind(b""),
}


@dataclass
class Abuse:
    """What the abusive connections saw: how many the gateway cut, and after how long."""

    opened: int = 0
    cut_after: list[float] = field(default_factory=list)
    open_at_end: int = 0


def _abuse(port: int, kind: Kind, stop: threading.Event, abuse: Abuse) -> None:
    """Keep ABUSERS connections of `kind` open until `stop`, reopening those the gateway cuts."""
    opened_at: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:

        def open_one() -> None:
            sock = connect(port, kind.opening)
            opened_at[sock] = time.monotonic()
            selector.register(sock, selectors.EVENT_READ)
            abuse.opened += 1

        def cut(sock: socket.socket) -> None:
            selector.unregister(sock)
            abuse.cut_after.append(time.monotonic() - opened_at.pop(sock))
            sock.close()

        for _ in range(ABUSERS):
            open_one()
        next_tick = time.monotonic() + TICK_SECONDS
        while not stop.is_set():
            for key, _events in selector.select(timeout=max(0.0, next_tick - time.monotonic())):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    if sock.recv(65536):
                        continue  # the answer to an idle keep-alive client's request
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                cut(sock)
                if abuse.opened < ABUSERS + MAX_REOPENS:
                    open_one()
            if time.monotonic() >= next_tick:
                next_tick += TICK_SECONDS
                for sock in list(opened_at):
                    # A cut connection is seen as readable (end of stream) next round.
                    with contextlib.suppress(OSError):
                        if kind.dribble:
                            sock.send(kind.dribble)
        abuse.open_at_end = len(opened_at)
        for sock in list(opened_at):
            selector.unregister(sock)
            sock.close()


def _probe(base_url: str, path: str) -> Probe:
    return probe(base_url, path, timeout=5)


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in the exposition")


def _open_connections(base_url: str) -> int:
    with HttpClient(base_url) as client:
        text = client.get("/metrics").body.decode()
    name = "http_server_open_connections"
    return int(
        _metric(text, name, http_connection_state="active")
        + _metric(text, name, http_connection_state="idle")
    )


@dataclass(frozen=True)
class Outcome:
    """One kind of abuse run against the gateway, and the well-behaved client's calls meanwhile."""

    abuse: Abuse
    probes: list[Probe]
    open_connections_during: int


@dataclass
class Gateway:
    stack: Stack
    order_path: str
    pid: int

    @property
    def port(self) -> int:
        return int(self.stack.gateway_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_stack(tmp_path_factory.mktemp("slow"), environ=SLOW_ENVIRON) as stack:
        with HttpClient(stack.gateway_url) as client:
            created = client.post_json("/orders", order_body("slow-clients"))
        assert created.status == 201
        yield Gateway(stack, f"/orders/{created.json()['id']}", stack.processes[GATEWAY].pid)


@pytest.fixture(scope="module")
def idle_level(gateway: Gateway) -> tuple[int, int]:
    """The gateway's threads and open descriptors after some traffic, before any abuse."""
    for _ in range(5):
        _probe(gateway.stack.gateway_url, gateway.order_path)
    process = psutil.Process(gateway.pid)
    return process.num_threads(), process.num_fds()


@pytest.fixture(scope="module", params=list(KINDS))
def outcome(request: pytest.FixtureRequest, gateway: Gateway, idle_level: object) -> Outcome:
    kind = KINDS[request.param]
    stop = threading.Event()
    abuse = Abuse()
    abuser = threading.Thread(target=_abuse, args=(gateway.port, kind, stop, abuse))
    abuser.start()
    probes: list[Probe] = []
    open_during = 0
    try:
        wait_until(lambda: abuse.opened >= ABUSERS or not abuser.is_alive(), 30, "the abusers")
        open_during = _open_connections(gateway.stack.gateway_url)
        ends = time.monotonic() + ABUSE_SECONDS
        while time.monotonic() < ends and abuser.is_alive():
            for path in ("/healthz", gateway.order_path):
                probes.append(_probe(gateway.stack.gateway_url, path))
            time.sleep(PROBE_INTERVAL)
    finally:
        stop.set()
        abuser.join(timeout=30)
    assert not abuser.is_alive(), "the abusive client hung"
    return Outcome(abuse, probes, open_during)


def test_abusive_connections_are_open_at_once(outcome: Outcome) -> None:
    assert outcome.abuse.opened >= ABUSERS
    # The gauge sees them: hundreds at once, plus the scrape's own connection.
    assert outcome.open_connections_during > ABUSERS


def test_a_well_behaved_client_is_answered_promptly_throughout(outcome: Outcome) -> None:
    assert len(outcome.probes) >= 10, "the well-behaved client hardly ran"
    failed = [p for p in outcome.probes if p.status != 200 or p.seconds >= PROMPT_SECONDS]
    assert failed == [], failed[:5]


def test_every_abusive_connection_is_cut_at_its_deadline(outcome: Outcome) -> None:
    # Each connection opened in the first round outlived the deadline: all were cut, in time.
    assert len(outcome.abuse.cut_after) >= ABUSERS
    latest = READ_TIMEOUT_SECONDS + CUT_MARGIN_SECONDS
    assert max(outcome.abuse.cut_after) < latest, sorted(outcome.abuse.cut_after)[-5:]


def test_threads_and_descriptors_return_to_their_idle_level(
    outcome: Outcome, gateway: Gateway, idle_level: tuple[int, int]
) -> None:
    process = psutil.Process(gateway.pid)
    threads, descriptors = idle_level

    def idle() -> bool:
        return process.num_threads() <= threads and process.num_fds() <= descriptors

    wait_until(idle, 15, f"{threads} threads and {descriptors} descriptors")


# --- The connection limit ----------------------------------------------------------------------

LIMIT = 100
EXCESS = 50


def test_connections_beyond_the_limit_get_503_and_the_others_keep_working(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    environ = {"GATEWAY_MAX_CONNECTIONS": str(LIMIT)}
    with running_stack(tmp_path_factory.mktemp("limit"), environ=environ) as stack:
        port = int(stack.gateway_url.rsplit(":", 1)[1])
        with HttpClient(stack.gateway_url) as kept:
            created = kept.post_json("/orders", order_body("limit"))
            assert created.status == 201
            # One connection is ours: LIMIT - 1 more are accepted, the next EXCESS refused.
            sockets = open_connections(port, LIMIT - 1 + EXCESS)
            refused = refusals(sockets, EXCESS, 2 * PROMPT_SECONDS)
            try:
                assert refused.silent == LIMIT - 1
                assert len(refused.answers) == EXCESS
                assert all(a.startswith(b"HTTP/1.1 503 ") for a in refused.answers), refused
                assert b'"code": "unavailable"' in refused.answers[0]
                assert refused.seconds < PROMPT_SECONDS

                read = kept.get(f"/orders/{created.json()['id']}")
                assert (read.status, read.json()) == (200, created.json())
                assert read.seconds < PROMPT_SECONDS
                metrics = kept.get("/metrics").body.decode()
                assert _metric(metrics, "http_server_refused_connections_total") == EXCESS
                name = "http_server_open_connections"
                assert _metric(metrics, name, http_connection_state="idle") == LIMIT - 1
                assert _metric(metrics, name, http_connection_state="active") == 1
            finally:
                close_all(sockets)
        # Room again: new connections are served.
        wait_until(lambda: _probe(stack.gateway_url, "/healthz").status == 200, 10, "room")
