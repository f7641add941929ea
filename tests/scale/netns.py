"""Hosts made of Linux network namespaces on a bridge, for tests that need several machines.

`network()` creates one namespace per host plus a `switch` namespace holding a
bridge; each host gets a veth link into the bridge and one address of a
private subnet. Those addresses exist only inside the namespaces created here
(the root namespace gets no address and no route), and everything is deleted
again when the block ends, even on failure. A host's link can be taken down
and brought back up (cut off from the others), processes run inside a host
through `ip netns exec`, and `Host.call` runs Python code in a thread that
has joined the host's namespace, so its sockets are the host's.

Needs root (CAP_SYS_ADMIN) and iproute2: without them tests skip, saying so;
with REQUIRE_NETNS=1 (as in CI) they fail instead.
"""

from __future__ import annotations

import ctypes
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from tests.support.tools import require_tool

T = TypeVar("T")
SUBNET_PREFIX = "10.213.77"
PREFIX_LENGTH = 24
CLONE_NEWNET = 0x40000000
CALL_TIMEOUT = 120.0


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Host:
    """One namespace on the bridge: its name, address and the switch-side link."""

    name: str
    namespace: str
    address: str
    switch_namespace: str
    switch_link: str
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host (`ip netns exec` execs it: the pid is the program's)."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def call(self, function: Callable[[], T], timeout: float = CALL_TIMEOUT) -> T:
        """Run `function` in a thread inside this host's namespace and return its result.

        Threads it starts inherit the namespace. gRPC is not used this way: its
        own threads would open sockets outside.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=4,
                thread_name_prefix=f"netns-{self.name}",
                initializer=_enter_namespace,
                initargs=(self.namespace,),
            )
        return self._executor.submit(function).result(timeout=timeout)

    def cut_off(self) -> None:
        """Take the host's link to the bridge down: its packets are dropped, nothing resets."""
        _ip("-n", self.switch_namespace, "link", "set", self.switch_link, "down")

    def reconnect(self) -> None:
        """Bring the host's link to the bridge up again."""
        _ip("-n", self.switch_namespace, "link", "set", self.switch_link, "up")

    def close(self) -> None:
        """Stop the host's helper threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _enter_namespace(namespace: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{namespace}") as handle:  # noqa: PTH123
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace} failed")


@contextmanager
def network(names: Sequence[str]) -> Iterator[dict[str, Host]]:
    """Hosts `names` on one bridge (addresses .10, .11, … of the test subnet); removed after."""
    require_tool("netns")
    tag = uuid.uuid4().hex[:6]
    switch = f"otel-sw-{tag}"
    created: list[str] = []
    hosts: dict[str, Host] = {}
    try:
        _ip("netns", "add", switch)
        created.append(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for index, name in enumerate(names):
            namespace = f"otel-{name}-{tag}"
            _ip("netns", "add", namespace)
            created.append(namespace)
            address = f"{SUBNET_PREFIX}.{10 + index}"
            switch_link = f"sw-{name}"[:15]
            # Created inside the host's namespace, then one end moved to the switch.
            _ip("-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", switch_link)
            _ip("-n", namespace, "link", "set", switch_link, "netns", switch)
            _ip("-n", switch, "link", "set", switch_link, "master", "br0")
            _ip("-n", switch, "link", "set", switch_link, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            hosts[name] = Host(name, namespace, address, switch, switch_link)
        yield hosts
    finally:
        for host in hosts.values():
            host.close()
        for namespace in reversed(created):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
