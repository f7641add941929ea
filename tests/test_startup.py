"""`wait_for_stop`: a stop signal ends the wait whichever thread the kernel hands it to."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support import REPO

PLAIN_WAIT_SECONDS = 3
# SIGTERM delivered to another thread than the main one, as the kernel may choose for a
# kill(pid): CPython's handler then runs only when the main thread next runs bytecode.
PROGRAM = textwrap.dedent(
    f"""
    import signal, sys, threading, time
    from services.startup import stop_signal, wait_for_stop

    started = time.monotonic()
    stopping = stop_signal()
    idle = threading.Thread(target=time.sleep, args=(30,), daemon=True)
    idle.start()
    threading.Timer(0.3, signal.pthread_kill, (idle.ident, signal.SIGTERM)).start()
    if sys.argv[1] == "plain":
        stopping.wait({PLAIN_WAIT_SECONDS})  # the services' old wait had no bound at all
    else:
        wait_for_stop(stopping)
    print(stopping.is_set(), time.monotonic() - started)
    """
)


def _stopped_after(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    stopped, seconds = result.stdout.split()
    assert stopped == "True", result.stdout + result.stderr
    return float(seconds)


def test_a_signal_taken_by_another_thread_ends_the_wait() -> None:
    assert _stopped_after("poll") < PLAIN_WAIT_SECONDS


def test_a_plain_event_wait_sleeps_through_it() -> None:
    # Why wait_for_stop polls: only the bound ended this wait.
    assert _stopped_after("plain") >= PLAIN_WAIT_SECONDS
