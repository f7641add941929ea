"""Connection floods for the tests: silent connections, and what the excess is told.

`open_connections` opens loopback connections that send nothing (each holds one of
the gateway's connection slots until its header deadline); `refusals` reads what
the gateway answered on the ones it refused (at its connection limit: a `503` and
the connection closed at once), leaving the accepted ones waiting; `fill` holds
every slot of a server; `hold_after_a_request` holds slots with connections idle
after one answered request (kept for the keep-alive timeout, not the header deadline).
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field


def connect(port: int, opening: bytes = b"") -> socket.socket:
    """A non-blocking loopback connection to `port` that has sent `opening` (maybe nothing)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if opening:
        sock.sendall(opening)
    sock.setblocking(False)
    return sock


def open_connections(port: int, count: int) -> list[socket.socket]:
    """`count` silent connections to `port`."""
    return [connect(port) for _ in range(count)]


@dataclass(frozen=True)
class Refusals:
    """What a batch of connections saw within the time allowed."""

    answers: list[bytes]  # what each connection the server answered got (refused ones)
    seconds: float  # until the last of them was answered
    silent: int  # connections accepted and waiting
    waiting: list[socket.socket] = field(default_factory=list)  # those connections


def refusals(sockets: list[socket.socket], expected: int, seconds: float) -> Refusals:
    """Read the answers on `sockets` until `expected` came or `seconds` passed."""
    started = time.monotonic()
    answers: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        deadline = started + seconds
        while time.monotonic() < deadline and len(answers) < expected:
            for key, _events in selector.select(timeout=0.1):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                selector.unregister(ready)
                try:
                    answers[ready] = ready.recv(65536)
                except OSError as error:
                    answers[ready] = repr(error).encode()
    elapsed = time.monotonic() - started
    waiting = [sock for sock in sockets if sock not in answers]
    return Refusals(list(answers.values()), elapsed, len(waiting), waiting)


def fill(port: int, limit: int, seconds: float = 1.0) -> list[socket.socket]:
    """Hold `limit` accepted silent connections, until one more is refused: the server is full.

    Connections the server still counts (a client's just closed) may refuse some of
    ours at first: those are replaced until exactly `limit` of ours are held.
    """
    held: list[socket.socket] = []
    while True:
        batch = open_connections(port, max(1, limit - len(held)))
        answered = refusals(batch, len(batch), seconds)
        held.extend(answered.waiting)
        close_all([sock for sock in batch if sock not in answered.waiting])
        if answered.answers and len(held) >= limit:
            return held


def close_all(sockets: list[socket.socket]) -> None:
    """Close every socket of a flood."""
    for sock in sockets:
        sock.close()


def hold_after_a_request(port: int, count: int, path: str = "/healthz") -> list[socket.socket]:
    """`count` keep-alive connections, each idle after one `GET path` answered 200.

    A connection the server refuses (one of its slots still taken by a closed
    client's connection) is replaced; at most `count` replacements.
    """
    held: list[socket.socket] = []
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    for _ in range(2 * count):
        if len(held) == count:
            break
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(request)
        if sock.recv(65536).startswith(b"HTTP/1.1 200 "):
            held.append(sock)
        else:
            sock.close()
    assert len(held) == count, f"only {len(held)} of {count} connections were served"
    return held
