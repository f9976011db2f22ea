"""Problems in a file, grouped: one line per distinct problem with the lines it affects.

A roster naming one tutor nobody has added gives the same problem on 200 rows; the person
importing needs to read it once, with "lines 2-201". Memory grows with the distinct problems and
the runs of lines they cover, never with the rows of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

KEPT_ERRORS = 200  # single errors kept for callers that list them; the groups count the rest
RUNS_SHOWN = 5  # runs of lines printed per problem; the rest are counted
KEPT_GROUPS = 1000  # distinct problems kept; a file where every row is wrong differently is counted


@dataclass(frozen=True)
class RowError:
    line: int  # the line in the file, counting the header as line 1
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@dataclass
class Group:
    column: str
    message: str
    runs: list[list[int]] = field(default_factory=list)  # [first, last] line of each run
    lines: int = 0
    last: int = 0

    def add(self, line: int) -> None:
        if line <= self.last:
            return  # the same line twice (two problems of one kind on it)
        self.lines, self.last = self.lines + 1, line
        if self.runs and self.runs[-1][1] == line - 1:
            self.runs[-1][1] = line
        elif len(self.runs) <= RUNS_SHOWN:  # one more than shown, so "and N more" is known
            self.runs.append([line, line])

    def __str__(self) -> str:
        shown = self.runs[:RUNS_SHOWN]
        text = ", ".join(str(a) if a == b else f"{a}\u2013{b}" for a, b in shown)
        in_shown = sum(b - a + 1 for a, b in shown)
        rest = f" and {self.lines - in_shown} more" if self.lines > in_shown else ""
        noun = "line" if self.lines == 1 else "lines"
        return f"{noun} {text}{rest}, column {self.column}: {self.message}"


@dataclass
class Problems:
    """Row errors (or notes) as they are found, in file order."""

    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    first: list[RowError] = field(default_factory=list)
    lines: int = 0  # distinct lines with at least one problem
    uncounted: int = 0  # problems beyond KEPT_GROUPS distinct ones
    _last_line: int = 0

    def add(self, error: RowError) -> None:
        key = (error.column, error.message)
        group = self.groups.get(key)
        if group is None and len(self.groups) < KEPT_GROUPS:
            group = self.groups[key] = Group(error.column, error.message)
        if group is None:
            self.uncounted += 1
        else:
            group.add(error.line)
        if error.line != self._last_line:
            self.lines += 1
            self._last_line = error.line
        if len(self.first) < KEPT_ERRORS:
            self.first.append(error)

    def __bool__(self) -> bool:
        return bool(self.groups)

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups.values())

    def summary(self, limit: int) -> list[str]:
        """One line per distinct problem, the first `limit` of them, then how many more."""
        lines = [str(group) for group in list(self.groups.values())[:limit]]
        if len(self.groups) > limit:
            lines.append(f"... and {len(self.groups) - limit} more kinds of problem")
        if self.uncounted:
            lines.append(f"... and {self.uncounted} more problems of other kinds (fix these and run it again)")
        return lines
