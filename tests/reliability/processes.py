"""Process readings for the reliability tests: memory, and exits within a deadline."""

from __future__ import annotations

import subprocess
import time

import psutil


def rss_bytes(pid: int) -> int:
    """The resident set size of a process."""
    return int(psutil.Process(pid).memory_info().rss)


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for `process` to exit; return its code and how long it took (SIGKILL on timeout)."""
    started = time.monotonic()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"pid {process.pid} did not exit within {timeout:g}s") from None
    return code, time.monotonic() - started
