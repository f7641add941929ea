"""HTTP for the reliability tests: a keep-alive client, raw exchanges, the gateway's JSON errors.

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

JSON_HEADERS = {"Content-Type": "application/json"}


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


@dataclass(frozen=True)
class Probe:
    """One GET of a well-behaved client: its status (None: no answer in time) and duration."""

    path: str
    status: int | None
    seconds: float
    error: str = ""


def probe(base_url: str, path: str, *, timeout: float) -> Probe:
    """GET `path` on a connection of its own, giving up after `timeout` seconds."""
    started = time.perf_counter()
    try:
        with HttpClient(base_url, timeout=timeout) as client:
            reply = client.get(path)
    except OSError as error:
        return Probe(path, None, time.perf_counter() - started, repr(error))
    return Probe(path, reply.status, time.perf_counter() - started)


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
