"""Markdown pieces shared by the benchmark page's renderers: table rows, figures, verdicts."""

from __future__ import annotations

from typing import Any


def row(*cells: object) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def f(value: float, digits: int = 1) -> str:
    """A figure with thousands separators and `digits` decimals."""
    return f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    """A goal's verdict, the missed ones in bold."""
    return "met" if ok else "**not met**"


def load_note(figures: dict[str, Any]) -> str:
    """The load average (1, 5, 15 min) recorded as the suite ended, if it was."""
    load = figures.get("load_average")
    if not load:
        return ""
    return f"Load average when the suite ended: {', '.join(f'{x:.1f}' for x in load)}.\n"
