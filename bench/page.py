"""Merging a partial run into docs/benchmarks.md: re-run sections replace theirs, the rest stays.

`bench/results/latest.json` is not tracked, so a clone (or a worktree) that runs
`python -m bench --only <suite>` has only that suite's figures. Rendering them
alone would drop every other section of the page; instead the page's sections
(`## N. …`) that the new render has replace the same-numbered ones, new ones are
inserted in number order, the goals table keeps the rows the run did not
measure, and the header says which suites were re-run.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^## (\d+)\.")
_GOALS = "## Goals"
_LAST_RUN = "Last run: "
_FIGURES = re.compile(r"\d[\d.,]*")


def merge(previous: str, rendered: str, rerun_note: str) -> str:
    """`previous` with the sections of `rendered` put in; `rerun_note` appended to "Last run"."""
    old_head, old_sections = _split(previous)
    new_head, new_sections = _split(rendered)
    head = _head(new_head, old_head, rerun_note)
    numbered = {_number(section): section for section in old_sections if _number(section)}
    for section in new_sections:
        if _number(section):
            numbered[_number(section)] = section
    goals_old = next((s for s in old_sections if s.startswith(_GOALS)), "")
    goals_new = next((s for s in new_sections if s.startswith(_GOALS)), "")
    ordered = [numbered[key] for key in sorted(numbered, key=int)]
    goals = _merge_goals(goals_old, goals_new) if goals_old else goals_new
    # Each part ends with one newline; joined, one blank line separates them (as `render`).
    parts = [part.rstrip("\n") + "\n" for part in (head, *ordered, goals) if part.strip()]
    return "\n".join(parts)


def _split(page: str) -> tuple[str, list[str]]:
    """The text before the first `## ` heading, and each `## ` section with its body."""
    parts = re.split(r"(?m)^(?=## )", page)
    return parts[0], parts[1:]


def _number(section: str) -> str:
    match = _NUMBER.match(section)
    return match[1] if match else ""


def _head(new_head: str, old_head: str, rerun_note: str) -> str:
    """The new method text, with the previous page's "Last run" line and the re-run note."""
    old_line = next((line for line in old_head.splitlines() if line.startswith(_LAST_RUN)), "")
    base = old_line.split("; re-run alone since:", 1)[0].rstrip(".")
    lines = []
    for line in new_head.splitlines():
        lines.append(
            f"{base}; re-run alone since: {rerun_note}."
            if line.startswith(_LAST_RUN) and base
            else line
        )
    return "\n".join(lines) + "\n"


def _merge_goals(old: str, new: str) -> str:
    """The previous goals table with the rows of the new one replacing theirs (same goal)."""
    new_rows = {_goal_key(row): row for row in _rows(new)}
    lines = []
    for line in old.rstrip("\n").splitlines():
        key = _goal_key(line) if _is_row(line) else ""
        lines.append(new_rows.pop(key, line) if key else line)
    lines += new_rows.values()
    return "\n".join(lines) + "\n"


def _rows(section: str) -> list[str]:
    return [line for line in section.splitlines() if _is_row(line)]


def _is_row(line: str) -> bool:
    return line.startswith("| ") and not line.startswith(("| goal ", "| ---"))


def _goal_key(row: str) -> str:
    """A goal row's first cell with its figures blanked: the goal, whatever its threshold."""
    return _FIGURES.sub("N", row.split("|")[1].strip())
