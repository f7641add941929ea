"""The output layer: redraw on a terminal, plain lines elsewhere, OK/FAIL fallback (console.py)."""

from __future__ import annotations

import io

from otel_stack.cli.console import CLEAR_SCREEN, Console


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_block_on_a_terminal_redraws_in_place() -> None:
    out = _Terminal()
    Console(out).block(["a", "b"])
    assert out.getvalue() == CLEAR_SCREEN + "a\nb\n"


def test_block_elsewhere_is_plain_lines_and_a_blank_line() -> None:
    out = io.StringIO()
    Console(out).block(["a", "b"])
    assert out.getvalue() == "a\nb\n\n"


def test_progress_on_a_terminal_overwrites_one_line() -> None:
    out = _Terminal()
    console = Console(out)
    console.progress("1")
    console.progress("2")
    console.line("done")
    assert out.getvalue() == "\r\x1b[2K1\r\x1b[2K2\ndone\n"


def test_progress_elsewhere_is_one_line_each() -> None:
    out = io.StringIO()
    console = Console(out)
    console.progress("1")
    console.progress("2")
    assert out.getvalue() == "1\n2\n"


def test_marks_fall_back_to_words_when_the_encoding_lacks_them() -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    utf8_out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    assert Console(ascii_out).marks() == ("OK", "FAIL")
    assert Console(utf8_out).marks() == ("✓", "✗")
