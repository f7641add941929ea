"""The command's output layer: everything `otel-stack` shows the user goes through `Console`.

On a terminal the live view is redrawn in place and progress is one updating
line; anywhere else (a pipe, a file, CI logs) output is plain lines with no
control codes. Check marks fall back to OK/FAIL where the stream's encoding
cannot represent them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

CLEAR_SCREEN = "\x1b[H\x1b[2J"
CLEAR_LINE = "\x1b[2K"


class Console:
    """Writes lines, redrawable blocks, progress lines and errors."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.interactive = _isatty(self.out)
        self._progress_shown = False

    def line(self, text: str = "") -> None:
        """Print one line."""
        self._end_progress()
        self.out.write(text + "\n")
        self.out.flush()

    def lines(self, lines: Sequence[str]) -> None:
        """Print several lines."""
        for text in lines:
            self.line(text)

    def block(self, lines: Sequence[str]) -> None:
        """Show a view: redrawn in place on a terminal, else printed followed by a blank line."""
        self._end_progress()
        prefix = CLEAR_SCREEN if self.interactive else ""
        self.out.write(prefix + "\n".join(lines) + "\n" + ("" if self.interactive else "\n"))
        self.out.flush()

    def progress(self, text: str) -> None:
        """Show a progress line: overwritten on a terminal, a new line otherwise."""
        if not self.interactive:
            self.line(text)
            return
        self.out.write("\r" + CLEAR_LINE + text)
        self.out.flush()
        self._progress_shown = True

    def error(self, text: str) -> None:
        """Print a one-line error to stderr."""
        self._end_progress()
        self.err.write(text + "\n")
        self.err.flush()

    def marks(self) -> tuple[str, str]:
        """The (pass, fail) markers this output can encode."""
        encoding = getattr(self.out, "encoding", None) or "ascii"
        try:
            "✓✗".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            return "OK", "FAIL"
        return "✓", "✗"

    def _end_progress(self) -> None:
        if self._progress_shown:
            self.out.write("\n")
            self._progress_shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
