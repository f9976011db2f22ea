"""Report tables: counts from `storage.reports` arranged as rows and columns, with percentages.

Pure functions, no I/O. A table is rendered three ways from the same dataclass: plain text that
fits a phone screen (here), CSV (`reports.export`) and a chart (`reports.charts`).

Small numbers: published reports usually hide counts from 1 to 4, since a "2" in a small group can
identify a pupil. With `suppress_small` every such count shows as "<5" and its percentage is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from storage.reports import GROUPS, Breakdown, DestinationCount, YearGroupCoverage

SMALL = "<5"

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
}

_VALUE_LABELS: dict[Breakdown, dict[str, str]] = {
    Breakdown.gender: {"F": "Female", "M": "Male", "X": "Other"},
    Breakdown.send: {"N": "No SEND", "K": "SEN support", "E": "EHC plan"},
    Breakdown.pupil_premium: {"Y": "Pupil premium", "N": "Not pupil premium"},
    Breakdown.fsm: {"Y": "FSM", "N": "Not FSM"},
}
NOT_RECORDED = "Not recorded"
_IN_A_TITLE: dict[Breakdown, str] = {
    Breakdown.gender: "gender",
    Breakdown.ethnicity: "ethnicity",
    Breakdown.send: "SEND",
    Breakdown.pupil_premium: "pupil premium",
    Breakdown.fsm: "free school meals",
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


def is_small(count: int) -> bool:
    return 1 <= count <= 4


def count_text(count: int, suppress_small: bool = False) -> str:
    return SMALL if suppress_small and is_small(count) else str(count)


def percent(part: int, whole: int) -> float | None:
    """Percentage rounded to one place, or None when there is nobody to take a share of."""
    return None if whole <= 0 else round(100.0 * part / whole, 1)


def percent_text(part: int, whole: int, suppress_small: bool = False) -> str:
    """ "42%" (whole numbers read best on a phone); empty when hidden or undefined."""
    if suppress_small and (is_small(part) or is_small(whole)):
        return ""
    share = percent(part, whole)
    return "" if share is None else f"{share:.0f}%"


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
    return Table(title, BREAKDOWN_TITLES[by], "Alumni", columns, tuple(rows), tuple(notes), "alumnus")


def benchmark3_table(rows: Sequence[YearGroupCoverage], *, school_year: str = "", school_name: str = "") -> Table:
    columns = ("Guidance this year", "Next step recorded", "Open actions", "Overdue actions")
    table_rows = tuple(
        Row(
            f"Year {r.year_group}" if r.year_group is not None else "No year group",
            r.pupils,
            (r.guidance_this_year, r.with_next_step, r.with_open_actions, r.with_overdue_actions),
        )
        for r in rows
    )
    title = "Benchmark 3 summary" + (f", school year {school_year}" if school_year else "")
    if school_name:
        title = f"{school_name}: {title}"
    notes = (
        "Guidance this year: at least one advice conversation logged since 1 September.",
        "Actions count pupils with at least one agreed action open or overdue.",
    )
    return Table(title, "Year group", "Pupils", columns, table_rows, notes, "pupil")


def render_text(table: Table, *, suppress_small: bool = False) -> str:
    """Plain text for a chat: one short block per row, zero columns left out, so it fits a phone."""
    lines = [table.title]
    if not table.rows:
        lines.append("No one to count yet.")
        return "\n".join(lines)
    for row in (*table.rows, table.total()):
        lines.append("")
        lines.append(f"{row.label}: {table.base_words(row.base, count_text(row.base, suppress_small))}")
        for name, count in zip(table.columns, row.cells, strict=True):
            if count == 0:
                continue
            share = percent_text(count, row.base, suppress_small)
            lines.append(f"  {name}: {count_text(count, suppress_small)}" + (f" ({share})" if share else ""))
    if suppress_small:
        lines.append("")
        lines.append("Counts from 1 to 4 are shown as <5.")
    lines += ["", *table.notes]
    return "\n".join(lines)
