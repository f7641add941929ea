"""The gateway's worker threads (services/web_gateway/dispatcher.py): real threads, real tasks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from services.web_gateway.dispatcher import LastIdleFirstDispatcher
from tests.support.polling import wait_until

THREADS = 4
WAIT_SECONDS = 10.0


class Task:
    """What waitress hands a dispatcher: `service()` runs it, `cancel()` drops it."""

    def __init__(self, body: threading.Barrier | None = None) -> None:
        self.body = body
        self.thread: str | None = None
        self.started = threading.Event()
        self.done = threading.Event()
        self.cancelled = False

    def service(self) -> None:
        self.thread = threading.current_thread().name
        self.started.set()
        if self.body is not None:
            self.body.wait(WAIT_SECONDS)
        self.done.set()

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def dispatcher() -> Iterator[LastIdleFirstDispatcher]:
    running = LastIdleFirstDispatcher()
    running.set_thread_count(THREADS)
    wait_until(lambda: _idle(running) == THREADS, WAIT_SECONDS, "every thread to wait")
    yield running
    running.shutdown(timeout=WAIT_SECONDS)


def _idle(dispatcher: LastIdleFirstDispatcher) -> int:
    with dispatcher.lock:
        return int(len(dispatcher.threads) - dispatcher.stop_count - dispatcher.active_count)


def _run(dispatcher: LastIdleFirstDispatcher, task: Task) -> Task:
    dispatcher.add_task(task)
    assert task.done.wait(WAIT_SECONDS)
    return task


def test_one_request_at_a_time_runs_on_one_thread(dispatcher: LastIdleFirstDispatcher) -> None:
    threads = set()
    for _ in range(3 * THREADS):
        threads.add(_run(dispatcher, Task()).thread)
        # The thread that served it is idle again before the next request (as between
        # a client's requests), so it is the one idle the shortest.
        wait_until(lambda: _idle(dispatcher) == THREADS, WAIT_SECONDS, "the thread to wait")

    assert len(threads) == 1, threads


def test_requests_in_flight_together_each_get_a_thread(
    dispatcher: LastIdleFirstDispatcher,
) -> None:
    together = threading.Barrier(THREADS)  # each task waits for all the others to run
    tasks = [Task(together) for _ in range(THREADS)]
    for task in tasks:
        dispatcher.add_task(task)

    assert all(task.done.wait(WAIT_SECONDS) for task in tasks)
    assert len({task.thread for task in tasks}) == THREADS


def test_requests_beyond_the_threads_wait_in_the_queue_and_all_run(
    dispatcher: LastIdleFirstDispatcher,
) -> None:
    tasks = [Task() for _ in range(10 * THREADS)]
    for task in tasks:
        dispatcher.add_task(task)

    assert all(task.done.wait(WAIT_SECONDS) for task in tasks)


def test_fewer_threads_asked_for_stop_the_idle_ones(dispatcher: LastIdleFirstDispatcher) -> None:
    dispatcher.set_thread_count(1)

    wait_until(lambda: len(dispatcher.threads) == 1, WAIT_SECONDS, "three threads to stop")
    _run(dispatcher, Task())


def test_shutdown_stops_every_thread_and_cancels_what_is_queued() -> None:
    dispatcher = LastIdleFirstDispatcher()
    dispatcher.set_thread_count(1)
    release = threading.Barrier(2)
    busy, queued = Task(release), Task()
    dispatcher.add_task(busy)
    dispatcher.add_task(queued)
    assert busy.started.wait(WAIT_SECONDS)
    stopping = threading.Thread(target=dispatcher.shutdown, kwargs={"timeout": WAIT_SECONDS})
    stopping.start()
    wait_until(lambda: dispatcher.stop_count == 1, WAIT_SECONDS, "the stop to be asked")
    release.wait(WAIT_SECONDS)  # the busy task ends; its thread stops instead of taking more
    stopping.join(WAIT_SECONDS)

    assert not dispatcher.threads
    assert busy.done.is_set() and queued.cancelled and not queued.done.is_set()
