"""An epoll I/O loop for waitress that looks only at connections whose state may have changed.

waitress's own `poll()` loop asks every connection whether it wants to read or
write, on every turn of the loop: with hundreds of open connections that is
most of the gateway's CPU (`make bench`: docs/benchmarks.md, section 7). This loop keeps
one epoll registration per descriptor and re-asks (with the same `readable()`
and `writable()` questions, and the same event handling, `wasyncore.readwrite`)
only for descriptors that had events on the previous turn, were added or
removed, or were marked by `mark` — which the server calls whenever a worker
thread wakes the loop about a connection, and the loop itself when it changes
connections in bulk. The listening socket and the trigger are asked every turn.
A descriptor is `forget`-ed before its socket is closed, so a new socket that
gets the same number is registered afresh.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

from waitress import wasyncore

READ = select.POLLIN | select.POLLPRI
WRITE = select.POLLOUT


class Poller:
    """One epoll set over a waitress socket map, updated incrementally."""

    def __init__(self, socket_map: MutableMapping[int, Any]) -> None:
        self._map = socket_map
        self._epoll = select.epoll()
        self._flags: dict[int, int] = {}
        self._lock = threading.Lock()
        self._marked: set[int] = set()
        self._every_turn: set[int] = set()
        self._had_events: list[int] = []

    def ask_every_turn(self, fd: int) -> None:
        """Re-examine `fd` on every turn (the listener, the trigger: a few, cheap to ask)."""
        self._every_turn.add(fd)

    def mark(self, fds: Iterable[int | None]) -> None:
        """Re-examine these descriptors on the next turn; safe from any thread."""
        with self._lock:
            self._marked.update(fd for fd in fds if fd is not None)

    def forget(self, fd: int | None) -> None:
        """Drop `fd` before its socket is closed: its number may soon name another socket."""
        if fd is None or self._flags.pop(fd, 0) == 0:
            return
        with contextlib.suppress(OSError):
            self._epoll.unregister(fd)

    def run(self, timeout: float) -> None:
        """Turn until the socket map is empty; then release the epoll descriptor."""
        try:
            while self._map:
                self.turn(timeout)
        finally:
            self._epoll.close()

    def turn(self, timeout: float) -> None:
        """Update the registrations that may have changed, wait for events, handle them."""
        with self._lock:
            marked, self._marked = self._marked, set()
        for fd in (*marked, *self._every_turn, *self._had_events):
            self._update(fd)
        self._every_turn = {fd for fd in self._every_turn if fd in self._map}
        try:
            events = self._epoll.poll(timeout)
        except InterruptedError:
            events = []
        self._had_events = []
        for fd, flags in events:
            dispatcher = self._map.get(fd)
            if dispatcher is None:
                continue
            wasyncore.readwrite(dispatcher, flags)
            self._had_events.append(fd)

    def _update(self, fd: int) -> None:
        dispatcher = self._map.get(fd)
        wanted = 0
        if dispatcher is not None:
            if dispatcher.readable():
                wanted |= READ
            if dispatcher.writable() and not dispatcher.accepting:
                wanted |= WRITE
        current = self._flags.get(fd, 0)
        if wanted == current:
            return
        if not wanted:
            self.forget(fd)
        elif current:
            self._flags[fd] = wanted
            self._epoll.modify(fd, wanted)
        else:
            self._flags[fd] = wanted
            self._epoll.register(fd, wanted)
