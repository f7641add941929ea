"""A local DNS server (Debian's dnsmasq) answering one name with the order-api replicas' addresses.

gRPC's `dns:///` resolver asks for a name's A records and `round_robin` spreads
calls over every address it gets, as a Kubernetes headless Service does. Here
dnsmasq answers that name and nothing else: from `--host-record`s given at start,
or from a hosts file (`write_hosts`) it reads again on SIGHUP, so records can
come and go while it runs. `resolve` is a minimal A-record query, enough to tell
that the server answers (readiness) and what it answers.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import struct
from collections.abc import Sequence
from pathlib import Path

from otel_stack.harness.processes import ServiceSpec

INSTALL_HINT = "apt-get install dnsmasq-base"
# Debian installs dnsmasq in /usr/sbin, which is not on every user's PATH.
_SEARCH_PATH = (*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin")
_TYPE_A = 1
_CLASS_IN = 1


def find_binary() -> str | None:
    """Where dnsmasq is installed, or None."""
    return shutil.which("dnsmasq", path=os.pathsep.join(_SEARCH_PATH))


def free_port(host: str = "127.0.0.1") -> int:
    """A port free a moment ago on `host` for both UDP and TCP (dnsmasq listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
                return port


def can_bind(host: str) -> bool:
    """Whether this machine has `host` (127.0.0.2 and up exist on Linux, not everywhere)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
    except OSError:
        return False
    return True


def write_hosts(path: Path, name: str, addresses: Sequence[str]) -> None:
    """Make `path` a hosts file giving `name` exactly `addresses` (replaced whole, atomically)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("".join(f"{address} {name}\n" for address in addresses))
    temporary.replace(path)


def command(
    binary: str,
    listen: tuple[str, int],
    name: str,
    *,
    addresses: Sequence[str] = (),
    hosts_file: Path | None = None,
) -> list[str]:
    """dnsmasq in the foreground, logging to stderr, answering `name` only, on `listen` only."""
    host, port = listen
    argv = [
        binary,
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--pid-file=",
        # Stay the user who started it (root in the namespace tests): it reads the hosts
        # file again on SIGHUP, and that file may sit in a directory only its owner can read.
        f"--user={pwd.getpwuid(os.getuid()).pw_name}",
        f"--listen-address={host}",
        f"--port={port}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        # Answer the name from local records only (NODATA for AAAA), never forward it.
        f"--local=/{name}/",
        "--log-facility=-",
    ]
    argv += [f"--host-record={name},{address}" for address in addresses]
    if hosts_file is not None:
        argv.append(f"--addn-hosts={hosts_file}")
    return argv


def spec(argv: Sequence[str], listen: tuple[str, int], name: str, log_path: Path) -> ServiceSpec:
    """The dnsmasq of `argv` as a service: ready once it answers `name` on `listen`."""
    host, port = listen
    return ServiceSpec(
        name="dnsmasq",
        command=list(argv),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        log_path=log_path,
        ready=lambda: bool(resolve(name, listen, timeout=0.5)),
        ready_description=f"an answer for {name} from {host}:{port}",
    )


def resolve(name: str, server: tuple[str, int], timeout: float = 1.0) -> list[str]:
    """The IPv4 addresses `server` gives for `name` (empty when it does not answer)."""
    query_id = secrets.randbelow(1 << 16)
    question = _encode_name(name) + struct.pack("!HH", _TYPE_A, _CLASS_IN)
    # Header: id, flags (recursion desired), one question, no other records.
    query = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(query, server)
            reply, _ = sock.recvfrom(4096)
        except OSError:  # timeout, refused
            return []
    return _a_records(reply, query_id, len(question))


def _encode_name(name: str) -> bytes:
    labels = [label.encode("ascii") for label in name.rstrip(".").split(".")]
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def _a_records(reply: bytes, query_id: int, question_length: int) -> list[str]:
    if len(reply) < 12:
        return []
    reply_id, flags, _questions, answers, _, _ = struct.unpack("!HHHHHH", reply[:12])
    if reply_id != query_id or flags & 0x000F:  # another query's reply, or an error code
        return []
    offset = 12 + question_length
    addresses = []
    for _ in range(answers):
        offset = _skip_name(reply, offset)
        if offset + 10 > len(reply):
            break
        kind, klass, _ttl, length = struct.unpack("!HHIH", reply[offset : offset + 10])
        offset += 10
        if kind == _TYPE_A and klass == _CLASS_IN and length == 4:
            addresses.append(socket.inet_ntoa(reply[offset : offset + 4]))
        offset += length
    return addresses


def _skip_name(reply: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name starting at `offset`."""
    while offset < len(reply):
        length = reply[offset]
        if length & 0xC0 == 0xC0:  # a pointer ends the name
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset
    return offset
