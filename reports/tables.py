"""Report tables: counts from `storage.reports` arranged as rows and columns, with percentages.

Pure functions, no I/O. A table is rendered three ways from the same dataclass: plain text that
fits a phone screen (here), CSV (`reports.export`) and a chart (`reports.charts`).

Small numbers: published reports hide counts from 1 to 4, since a "2" in a small group can
identify a pupil, and enough other counts that none of those can be worked out by subtraction
(`reports.disclosure`). `publish` gives the table as it may be shown; every rendering (text, CSV,
Rich, chart, HTML) reads counts and percentages from it only, so none can show a hidden number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from reports import disclosure
from storage.reports import GROUPS, Breakdown, DestinationCount

HIDDEN = "x"
HIDDEN_NOTE = (
    "x: hidden. Counts from 1 to 4 are hidden, and other counts beside them, "
    "so that no hidden count can be worked out from the rest."
)

GROUP_LABELS: dict[str, str] = {
    "education": "Education",
    "apprenticeship": "Apprenticeship",
    "employment": "Employment",
    "training": "Training",
    "other": "Other",
    "NEET": "NEET",
    "not known": "Not known",
    "cannot be contacted": "Cannot be contacted",
}

BREAKDOWN_TITLES: dict[Breakdown, str] = {
    Breakdown.gender: "Gender",
    Breakdown.ethnicity: "Ethnicity",
    Breakdown.send: "SEND",
    Breakdown.pupil_premium: "Pupil premium",
    Breakdown.fsm: "Free school meals",
    Breakdown.eal: "EAL",
    Breakdown.looked_after: "Looked after",
}

_VALUE_LABELS: dict[Breakdown, dict[str, str]] = {
    Breakdown.gender: {"F": "Female", "M": "Male", "X": "Other"},
    Breakdown.send: {"N": "No SEND", "K": "SEN support", "E": "EHC plan"},
    Breakdown.pupil_premium: {"Y": "Pupil premium", "N": "Not pupil premium"},
    Breakdown.fsm: {"Y": "FSM", "N": "Not FSM"},
    Breakdown.eal: {"Y": "EAL", "N": "Not EAL"},
    Breakdown.looked_after: {"Y": "Looked after", "N": "Not looked after"},
}
NOT_RECORDED = "Not recorded"
_IN_A_TITLE: dict[Breakdown, str] = {
    Breakdown.gender: "gender",
    Breakdown.ethnicity: "ethnicity",
    Breakdown.send: "SEND",
    Breakdown.pupil_premium: "pupil premium",
    Breakdown.fsm: "free school meals",
    Breakdown.eal: "EAL (English as an additional language)",
    Breakdown.looked_after: "looked after",
}


def _row_order(by: Breakdown, value: str) -> tuple[int, int, str]:
    """Known codes in their natural order (No SEND, SEN support, EHC plan), then the rest A-Z, then blanks."""
    known = list(_VALUE_LABELS.get(by, {}))
    key = value.upper() if len(value) == 1 else value
    return (value == "", known.index(key) if key in known else len(known), value_label(by, value).casefold())


def value_label(by: Breakdown, value: str) -> str:
    """How a roster value reads in a report: "K" is "SEN support", an empty one "Not recorded"."""
    if not value:
        return NOT_RECORDED
    return _VALUE_LABELS.get(by, {}).get(value.upper() if len(value) == 1 else value, value)


@dataclass(frozen=True)
class Row:
    label: str
    base: int  # the people the row is about; percentages are of this
    cells: tuple[int, ...]


@dataclass(frozen=True)
class Table:
    title: str
    row_header: str  # e.g. "Gender", "Year group"
    base_header: str  # e.g. "Alumni", "Pupils"
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default=())
    base_one: str = ""  # the base header for one person: "alumnus", "pupil"
    # How many leading columns split each row's people between them (each person in exactly one,
    # as destination groups do); 0 when every column is its own measure of the same people.
    adds_up: int = 0
    # Rows of nobody left out of the chat text (a sector no one named); kept in files and charts' data.
    omit_empty: bool = False
    # Entries (row, column; as in `Shown`) to hide whenever the table is suppressed, because another
    # table published beside it hides the same number (reports.evidence suppresses a page together).
    also_hidden: frozenset[tuple[int, int]] = frozenset()
    # A column that repeats each row's base for some rows and is 0 for the rest ("Year 10 up" by year
    # group): its total is a published subtotal of those bases, which disclosure control must know.
    copies_base: str | None = None
    # Pairs (column, of column): the first counts only people the second counts ("Next step
    # recorded" of "Year 10 up"), so where the second is 0 the first is 0 by definition: a reader
    # knows it, so it is never hidden (hiding it would seem to protect a count and protect nothing).
    counted_within: tuple[tuple[str, str], ...] = ()

    def base_words(self, count: int, shown: str) -> str:
        return f"{shown} {self.base_one if count == 1 and self.base_one else self.base_header.lower()}"

    def total(self) -> Row:
        return Row(
            "All",
            sum(r.base for r in self.rows),
            tuple(sum(r.cells[i] for r in self.rows) for i in range(len(self.columns))),
        )

    def column(self, name: str) -> tuple[int, ...]:
        index = self.columns.index(name)
        return tuple(r.cells[index] for r in self.rows)


@dataclass(frozen=True)
class Shown:
    """A table as it may be published: `hidden` holds (row, column) pairs, where row `len(rows)` is
    the "All" row and column `len(columns)` the base. Without suppression nothing is hidden."""

    table: Table
    hidden: frozenset[tuple[int, int]] = frozenset()

    @property
    def rows(self) -> tuple[Row, ...]:
        """The table's rows, then the "All" row (none when there is nobody)."""
        return (*self.table.rows, self.table.total()) if self.table.rows else ()

    @property
    def suppressed(self) -> bool:
        return bool(self.hidden)

    def count(self, row: int, column: int) -> int | None:
        return None if (row, column) in self.hidden else self.rows[row].cells[column]

    def base(self, row: int) -> int | None:
        return None if (row, len(self.table.columns)) in self.hidden else self.rows[row].base

    def share(self, row: int, column: int) -> Decimal | None:
        """A percentage of a shown count of a shown base, halves rounded up; None otherwise."""
        count, base = self.count(row, column), self.base(row)
        return None if count is None or base is None else disclosure.percent(count, base)

    def count_text(self, row: int, column: int) -> str:
        return _text(self.count(row, column))

    def base_text(self, row: int) -> str:
        return _text(self.base(row))

    def share_text(self, row: int, column: int) -> str:
        """ "42%" (whole numbers read best on a phone); empty when hidden or undefined."""
        share = self.share(row, column)
        return "" if share is None else f"{share}%"


def _text(count: int | None) -> str:
    return HIDDEN if count is None else str(count)


def publish(table: Table, *, suppress_small: bool = False) -> Shown:
    """The table as it may be shown: with `suppress_small`, small counts and enough others hidden.

    The columns that split each row (`adds_up`) are one grid whose rows add up to the bases; the
    other columns (several measures of the same people, or "Sustained", a part of some groups) are
    a grid whose rows need not add up. Hiding a base in one grid hides it in the other and both
    are suppressed again, until neither hides more.

    A column that copies the base (`copies_base`) is in neither grid: each grid is told that the
    bases of the rows it copies have a published subtotal (its total). A copied cell is then hidden
    exactly when its row's base is, and the column's total when the subtotal is; its zeros are shown.
    """
    if not suppress_small or not table.rows:
        return Shown(table)
    height, width, split = len(table.rows), len(table.columns), table.adds_up
    bases = tuple(r.base for r in table.rows)
    copy = table.columns.index(table.copies_base) if table.copies_base is not None else None
    if copy is not None and copy < split:  # a copy of the base is no part of a split of it
        raise ValueError(
            f"{table.title}: {table.copies_base!r} copies the base, so it cannot be a column that adds up to it"
        )
    subtotal = _copied_rows(table, copy) if copy is not None else None
    kept = [c for c in range(width) if c != copy]
    parts = [[c for c in kept if c < split], [c for c in kept if c >= split]] if split else [kept]
    known = _known_zeros(table)
    hidden: set[tuple[int, int]] = set(table.also_hidden) - known
    if copy is not None:  # a copy hidden by a table beside this one is its base (or the subtotal) hidden
        hidden |= {(row, width) for row, column in table.also_hidden if column == copy and row in (subtotal or ())}
    while True:
        before = len(hidden)
        for columns in parts:
            if not columns:
                continue
            add_up = bool(split) and columns[0] < split
            grid = disclosure.Grid.of(
                [[r.cells[c] for c in columns] for r in table.rows], bases, rows_add_up=add_up, subtotal=subtotal
            )
            at = {column: index for index, column in enumerate(columns)} | {width: len(columns)}
            forced = {(row, at[column]) for row, column in hidden if column in at}
            if grid.subtotal_entry is not None and (height, copy) in hidden:
                forced.add(grid.subtotal_entry)
            never = {(row, at[column]) for row, column in known if column in at}
            for row, column in disclosure.suppress(grid, also=forced, known=never).hidden:
                if (row, column) == grid.subtotal_entry:
                    hidden.add((height, copy if copy is not None else width))
                else:
                    hidden.add((row, width if column == len(columns) else columns[column]))
        if copy is not None:  # each copy as its base; the column's total as the subtotal
            hidden |= {(row, copy) for row, column in set(hidden) if column == width and row in (subtotal or ())}
        if len(hidden) == before:
            return Shown(table, frozenset(hidden))


def _known_zeros(table: Table) -> set[tuple[int, int]]:
    """The entries that are 0 by definition (`counted_within`), in the "All" row too."""
    rows = (*table.rows, table.total())
    known = set()
    for part, whole in table.counted_within:
        of, within = table.columns.index(part), table.columns.index(whole)
        known |= {(index, of) for index, row in enumerate(rows) if row.cells[within] == 0 and row.cells[of] == 0}
    return known


def _copied_rows(table: Table, column: int) -> frozenset[int]:
    """The rows whose `column` is their base (the others must be 0): those its total adds up."""
    copied = set()
    for index, row in enumerate(table.rows):
        value = row.cells[column]
        if value == row.base and value > 0:
            copied.add(index)
        elif value != 0:
            raise ValueError(
                f"{table.title}: {table.columns[column]!r} of {row.label!r} is {value}, "
                f"neither its base ({row.base}) nor 0, so it is not a copy of the base"
            )
    return frozenset(copied)


def destinations_table(
    counts: Iterable[DestinationCount],
    *,
    by: Breakdown,
    year_after_leaving: int,
    cohort: int | None = None,
    school_name: str = "",
    left_before: date | None = None,
) -> Table:
    """One row per breakdown value, one column per destination group (plus "Sustained" from year 2).

    The title names the leavers counted: a cohort ("leavers of 2024"), or everyone who left before
    `left_before` ("leavers of 2025 and earlier")."""
    per_value: dict[str, dict[str, DestinationCount]] = {}
    for c in counts:
        per_value.setdefault(c.value, {})[c.group] = c
    with_sustained = year_after_leaving >= 2
    columns = tuple(GROUP_LABELS[g] for g in GROUPS) + (("Sustained",) if with_sustained else ())
    rows = []
    for value in sorted(per_value, key=lambda v: _row_order(by, v)):
        groups = per_value[value]
        cells = [groups[g].alumni if g in groups else 0 for g in GROUPS]
        if with_sustained:
            cells.append(sum(c.sustained for c in groups.values()))
        rows.append(Row(value_label(by, value), sum(cells[: len(GROUPS)]), tuple(cells)))
    when = f"year {year_after_leaving} after leaving"
    if cohort is not None:
        who = f"leavers of {cohort}"
    elif left_before is not None:
        who = f"leavers of {(left_before - timedelta(days=1)).year} and earlier"
    else:
        who = "leavers"
    title = f"Destinations of {who}, {when}, by {_IN_A_TITLE[by]}"
    if school_name:
        title = f"{school_name}: {title}"
    notes = [
        "Other: e.g. a gap year. Not known: nothing reported (NCCIS 810). "
        "Cannot be contacted: no answer after reminders (820)."
    ]
    if with_sustained:
        notes.append("Sustained: in the same group (not NEET) as the year before.")
    return Table(
        title, BREAKDOWN_TITLES[by], "Alumni", columns, tuple(rows), tuple(notes), "alumnus", adds_up=len(GROUPS)
    )


def side_by_side(tables: Sequence[Table], labels: Sequence[str], title: str) -> Table:
    """Several tables of the same columns as one (e.g. leaving cohorts), each row labelled with its
    table's label, so they compare and are suppressed together (one "All" row over them all)."""
    first = tables[0]
    rows = tuple(
        Row(f"{label}: {row.label}", row.base, row.cells)
        for table, label in zip(tables, labels, strict=True)
        for row in table.rows
    )
    return Table(
        title,
        first.row_header,
        first.base_header,
        first.columns,
        rows,
        first.notes,
        first.base_one,
        adds_up=first.adds_up,
    )


def render_text(table: Table, *, suppress_small: bool = False) -> str:
    """Plain text for a chat: one short block per row, zero columns left out, so it fits a phone."""
    shown = publish(table, suppress_small=suppress_small)
    lines = [table.title]
    if not table.rows:
        lines.append("No one to count yet.")
        return "\n".join(lines)
    for index, row in enumerate(shown.rows):
        base = shown.base(index)
        if base == 0 and table.omit_empty:
            continue  # a row of nobody (a sector no one named): nothing to read on a phone
        lines.append("")
        lines.append(f"{row.label}: {table.base_words(base if base is not None else 0, shown.base_text(index))}")
        for column, name in enumerate(table.columns):
            if shown.count(index, column) == 0:
                continue
            share = shown.share_text(index, column)
            lines.append(f"  {name}: {shown.count_text(index, column)}" + (f" ({share})" if share else ""))
    if shown.suppressed:
        lines += ["", HIDDEN_NOTE]
    lines += ["", *table.notes]
    return "\n".join(lines)
