"""User-facing errors: problems a user can fix, reported all at once, without a traceback."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, phrased so that a user can act on it.

    `rows` are row numbers as a spreadsheet shows them (the header is row 1, so the first data
    row is row 2); only the first few are kept, `count` says how many in all.
    """

    table: str
    column: str | None
    message: str
    fix: str
    rows: tuple[int, ...] = ()
    count: int | None = None
    path: str | None = None

    def render(self) -> str:
        where = self.table
        if self.path:
            where += f" ({self.path})"
        if self.column:
            label = "key" if self.table == "config" else "column"
            where += f", {label} '{self.column}'"
        text = f"{where}: {self.message}"
        if self.count is not None:
            text += f" [{self.count} row{'s' if self.count != 1 else ''}"
            if self.rows:
                shown = ", ".join(str(r) for r in self.rows)
                more = ", ..." if self.count > len(self.rows) else ""
                text += f"; first: {shown}{more}"
            text += "]"
        return f"{text}\n    fix: {self.fix}"


@dataclass
class DeepvalueError(Exception):
    """Raised for user mistakes (bad config, bad extract). Carries every problem found."""

    problems: Sequence[Problem] = field(default_factory=list)
    headline: str = "the input has problems"

    def __str__(self) -> str:
        n = len(self.problems)
        lines = [f"deepvalue: {self.headline} ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  {i}. {p.render()}" for i, p in enumerate(self.problems, 1)]
        return "\n".join(lines)


class ConfigError(DeepvalueError):
    """The configuration is invalid."""


class ExtractError(DeepvalueError):
    """The extract (input tables) is invalid."""


class AnalysisError(DeepvalueError):
    """The data cannot support the requested analysis (no overlap, no treated, ...)."""


def sheet_rows(positions: Sequence[int], limit: int = 5) -> tuple[int, ...]:
    """Spreadsheet row numbers (header = row 1) of the first `limit` 0-based data positions."""
    return tuple(int(i) + 2 for i in list(positions)[:limit])


def did_you_mean(name: object, choices, also: object = None) -> str:
    """A "did you mean 'x'? " hint (or ""), matching case- and separator-insensitively."""

    def norm(x: object) -> str:
        return "".join(ch for ch in str(x).lower() if ch.isalnum())

    by_norm = {norm(c): c for c in choices}
    for probe in (name, also):
        if probe is None:
            continue
        hit = difflib.get_close_matches(norm(probe), list(by_norm), n=1, cutoff=0.6)
        if hit:
            return f"did you mean '{by_norm[hit[0]]}'? "
    return ""
