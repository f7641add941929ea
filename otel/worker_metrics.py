"""One `/metrics` for a service run as N worker processes: each worker's series, labelled.

Each worker renders its own registry, as a single process would, for whoever
asks on a private Unix socket (`ExpositionServer`, one per worker, in a
directory only the service's user can enter). Whichever process answers a
scrape (`MergedMetrics`) asks every socket in that directory, in the format the
scraper negotiated, and writes one exposition: each family once, with every
worker's samples, each carrying `worker="<index>"`. Nothing is summed or
re-parsed: each series stays one worker's own cumulative value, so it never
decreases, a restarted worker is a counter reset of its own series only (which
`rate()` handles), exemplars pass through untouched, and `target_info` appears
once per worker with that worker's `service_instance_id`. A process without a
worker index (the supervisor) contributes its series without the label.

A worker that does not answer within the deadline is left out of that scrape
(Prometheus marks its series stale; they come back where they left off), so a
dying worker never fails the scrape of the others.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client.exposition import choose_encoder

from otel.prometheus import MetricsServer, Render
from otel.tls_listener import start_tls_server

logger = logging.getLogger(__name__)

WORKER_LABEL = "worker"
SOCKET_SUFFIX = ".sock"
SUPERVISOR_SOCKET = "supervisor" + SOCKET_SUFFIX
FETCH_TIMEOUT_SECONDS = 5.0
# The request is the scraper's Accept header: bounded, one line.
MAX_REQUEST_BYTES = 4096
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text"
_EOF = "# EOF"
METRICS_PATH = "/metrics"
_WORKER_SOCKET = re.compile(r"worker-(\d+)\.sock")


def worker_socket_name(index: int) -> str:
    """The socket file name of worker `index`."""
    return f"worker-{index}{SOCKET_SUFFIX}"


class _Handler(socketserver.StreamRequestHandler):
    server: _UnixServer

    def handle(self) -> None:
        accept = self.rfile.readline(MAX_REQUEST_BYTES).decode("latin-1").strip()
        body, _content_type = self.server.render(accept or None)
        with contextlib.suppress(OSError):  # the asker gave up (its deadline passed)
            self.wfile.write(body)


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, render: Render) -> None:
        self.render = render
        super().__init__(path, _Handler)


class ExpositionServer:
    """Serves one process's exposition on a Unix socket until `stop`."""

    def __init__(self, path: Path, render: Render) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left behind by a killed predecessor
        self.path = path
        self._server = _UnixServer(str(path), render)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="worker-exposition", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and remove the socket file."""
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass(frozen=True)
class _Family:
    headers: list[str]
    samples: list[str]


def merge(parts: Sequence[tuple[str | None, str]], *, openmetrics: bool) -> str:
    """One exposition from several, each part's samples labelled `worker=<its label>`.

    `parts` holds (worker label or None for unlabelled, exposition text), all
    in one format. Families keep the order they first appear in; each family's
    HELP/TYPE/UNIT lines are written once, followed by every part's samples.
    """
    families: dict[str, _Family] = {}
    for label, text in parts:
        family: _Family | None = None
        family_name = ""
        take_headers = False
        for line in text.splitlines():
            if not line or line == _EOF:
                continue
            if line.startswith("# "):
                kind, _, rest = line[2:].partition(" ")
                if kind not in ("HELP", "TYPE", "UNIT"):
                    continue
                name = rest.partition(" ")[0]
                if family is None or name != family_name:
                    family_name = name
                    take_headers = name not in families
                    family = families.setdefault(name, _Family([], []))
                if take_headers:
                    family.headers.append(line)
                continue
            if family is None:
                family = families.setdefault("", _Family([], []))
            family.samples.append(line if label is None else _labelled(line, label))
    lines = [line for family in families.values() for line in (*family.headers, *family.samples)]
    if openmetrics:
        lines.append(_EOF)
    return "\n".join(lines) + "\n"


def _labelled(sample: str, label: str) -> str:
    """`sample` with `worker="label"` as its first label."""
    brace = sample.find("{")
    space = sample.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        closing = "" if sample[brace + 1 : brace + 2] == "}" else ","
        return f'{sample[: brace + 1]}{WORKER_LABEL}="{label}"{closing}{sample[brace + 1 :]}'
    return f'{sample[:space]}{{{WORKER_LABEL}="{label}"}}{sample[space:]}'


class MergedMetrics:
    """Answers a scrape for all the workers whose sockets are in `directory`."""

    def __init__(self, directory: Path, *, timeout: float = FETCH_TIMEOUT_SECONDS) -> None:
        self.directory = directory
        self.timeout = timeout

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The merged exposition and its content type, in the format `accept` negotiates."""
        _encoder, content_type = choose_encoder(accept or "")
        openmetrics = content_type.startswith(OPENMETRICS_CONTENT_TYPE)
        parts = fetch_all(self.sockets(), accept or "", self.timeout)
        return merge(parts, openmetrics=openmetrics).encode(), content_type

    def sockets(self) -> list[tuple[str | None, Path]]:
        """(worker label, socket) of the supervisor and every worker, workers by index."""
        found: list[tuple[int, Path]] = []
        supervisor: list[tuple[str | None, Path]] = []
        with contextlib.suppress(FileNotFoundError):
            for path in self.directory.iterdir():
                if path.name == SUPERVISOR_SOCKET:
                    supervisor.append((None, path))
                elif match := _WORKER_SOCKET.fullmatch(path.name):
                    found.append((int(match.group(1)), path))
        return [(str(index), path) for index, path in sorted(found)] + supervisor


def fetch_all(
    sockets: Sequence[tuple[str | None, Path]], accept: str, timeout: float
) -> list[tuple[str | None, str]]:
    """Ask every socket at once, then read each answer; those not answering in time are left out."""
    deadline = time.monotonic() + timeout
    asked: list[tuple[str | None, Path, socket.socket]] = []
    for label, path in sockets:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(timeout)
            connection.connect(str(path))
            connection.sendall(accept.encode("latin-1", "replace")[: MAX_REQUEST_BYTES - 1] + b"\n")
        except OSError:
            connection.close()  # a worker that is gone or restarting
            continue
        asked.append((label, path, connection))
    parts: list[tuple[str | None, str]] = []
    for label, path, connection in asked:
        with connection:
            try:
                parts.append((label, _read_all(connection, deadline)))
            except OSError as error:
                logger.warning("metrics of %s left out of this scrape: %s", path.name, error)
    return parts


def _read_all(connection: socket.socket, deadline: float) -> str:
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer before the deadline")
        connection.settimeout(remaining)
        chunk = connection.recv(1 << 16)
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


class _HttpHandler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_GET(self) -> None:
        if self.path.partition("?")[0] != METRICS_PATH:
            self.send_error(404)
            return
        body, content_type = self.server.render(self.headers.get("Accept"))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None  # one line per scrape would drown the service's log


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], render: Render) -> None:
        self.render = render
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _HttpHandler)


def serve_http(
    render: Render,
    host: str,
    port: int,
    *,
    ssl_context: Callable[[], ssl.SSLContext] | None = None,
) -> MetricsServer:
    """`GET /metrics` answered by `render`, from a thread of its own (the order-api's listener).

    With `ssl_context` it is https, as a single process's listener is
    (`otel.tls_listener`). OSError when the port is taken.
    """
    if ssl_context is not None:
        tls_server, tls_thread = start_tls_server(_wsgi_app(render), host, port, ssl_context)
        return MetricsServer(tls_server, tls_thread)
    server = _HttpServer((host, port), render)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return MetricsServer(server, thread)


def _wsgi_app(render: Render) -> Callable[..., list[bytes]]:
    """`render` as a WSGI application answering GET /metrics (the TLS listener serves WSGI)."""

    def app(environ: dict[str, Any], start_response: Callable[..., object]) -> list[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        body, content_type = render(environ.get("HTTP_ACCEPT"))
        start_response(
            "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app
