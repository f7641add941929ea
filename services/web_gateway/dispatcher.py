"""The gateway's worker threads: the thread idle the shortest takes the next request.

waitress's `ThreadedTaskDispatcher` wakes its idle threads through one
condition variable, whose `notify()` wakes the thread that has waited longest:
requests go round all GATEWAY_THREADS threads in turn, so with fewer requests in
flight than threads each one runs on the thread whose stack, locals and
thread-local state have gone coldest in the CPU caches. Here each idle thread
waits on a condition of its own, kept on a stack, and a new request wakes the
one that went idle last: the threads in use stay the same few, and the others
wait until the load needs them. The pool's size, queue and shutdown are
waitress's.
"""

from __future__ import annotations

import threading
from typing import Any

from waitress.task import ThreadedTaskDispatcher


class LastIdleFirstDispatcher(ThreadedTaskDispatcher):  # type: ignore[misc]
    """waitress's dispatcher, waking its most recently idle thread for each task."""

    def __init__(self) -> None:
        super().__init__()
        self._idle: list[threading.Condition] = []  # a stack: the last one went idle last

    def handler_thread(self, thread_no: int) -> None:
        """Serve tasks until told to stop (waitress's loop, waiting on this thread's condition)."""
        wake = threading.Condition(self.lock)
        while True:
            with self.lock:
                while not self.queue and self.stop_count == 0:
                    self.active_count -= 1
                    self._idle.append(wake)
                    wake.wait()
                    self.active_count += 1
                if self.stop_count > 0:
                    self.active_count -= 1
                    self.stop_count -= 1
                    self.threads.discard(thread_no)
                    self.thread_exit_cv.notify()
                    return
                task = self.queue.popleft()
            try:
                task.service()
            except BaseException:
                self.logger.exception("Exception when servicing %r", task)

    def add_task(self, task: Any) -> None:
        """Queue `task` and wake the thread that went idle last (waitress warns of a backlog)."""
        with self.lock:
            self.queue.append(task)
            if self._idle:
                self._idle.pop().notify()
            backlog = len(self.queue) - (len(self.threads) - self.stop_count - self.active_count)
            if backlog > 0:
                self.queue_logger.warning("Task queue depth is %d", backlog)

    def set_thread_count(self, count: int) -> None:
        """Start or stop threads until `count` run; idle ones asked to stop wake now."""
        super().set_thread_count(count)
        with self.lock:
            if self.stop_count > 0:
                while self._idle:
                    self._idle.pop().notify()
