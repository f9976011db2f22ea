"""The Benchmark 3 evidence page: the figures a careers leader gives governors or an inspector.

Pure arrangement of `storage.reports` aggregates into tables (`reports.tables.Table`), grouped
under the benchmark's criteria as the issue names them. Every table is suppressed on its own when
published; a targeted group's table is the group beside everyone else on roll, and the gap is the
difference of the two published percentages (none when either is hidden).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from reports.tables import Row, Shown, Table
from storage.reports import TARGETED, CohortCoverage, PupilEvidence

PUPIL_COLUMNS: tuple[str, ...] = (
    "Guidance this year",
    "Agreed actions",
    "Action done",
    "Action open",
    "Action overdue",
    "Year 10 up",
    "Next step recorded",
    "Account linked",
    "Journal this year",
    "Employer encounter this year",
)
PUPIL_NOTES = (
    "Pupils on roll (not missing from the latest roster, not left). Guidance this year: an advice "
    "conversation logged since 1 September. Agreed actions: pupils with at least one; done, open and "
    "overdue count pupils with at least one such action. Next step recorded: of pupils in Year 10 up. "
    "Account linked: a chat account, so they can reach their own record.",
)
COHORT_COLUMNS: tuple[str, ...] = ("Known", "Not known", "Cannot be contacted", "Sustained", "NEET", "Willing to help")
COHORT_NOTES = (
    "Each cohort in the latest year after leaving it has reached. Known: a destination recorded "
    "(NEET included). Sustained: in the same group (not NEET) as the year before. Willing to help: "
    "alumni who agreed to help pupils (talks, mentoring).",
)


@dataclass(frozen=True)
class Criterion:
    name: str
    evidence: str  # what the figures under it show, in a sentence
    tables: tuple[Table, ...]


@dataclass(frozen=True)
class Evidence:
    title: str
    criteria: tuple[Criterion, ...]


def _measures(rows: Iterable[PupilEvidence]) -> tuple[int, tuple[int, ...]]:
    pupils, sums = 0, [0] * len(PUPIL_COLUMNS)
    for r in rows:
        pupils += r.pupils
        values = (
            r.guidance_this_year,
            r.with_actions,
            r.with_done_actions,
            r.with_open_actions,
            r.with_overdue_actions,
            r.year10_up,
            r.with_next_step,
            r.linked,
            r.with_journal,
            r.with_encounter,
        )
        sums = [a + b for a, b in zip(sums, values, strict=True)]
    return pupils, tuple(sums)


def by_year_group(rows: Sequence[PupilEvidence]) -> Table:
    years = sorted({r.year_group for r in rows}, key=lambda y: (y is None, y or 0))
    table_rows = []
    for year in years:
        pupils, cells = _measures(r for r in rows if r.year_group == year)
        table_rows.append(Row(f"Year {year}" if year is not None else "No year group", pupils, cells))
    return Table(
        "Pupils on roll by year group", "Year group", "Pupils", PUPIL_COLUMNS, tuple(table_rows), PUPIL_NOTES, "pupil"
    )


def targeted_group(rows: Sequence[PupilEvidence], group: str) -> Table:
    inside, inside_cells = _measures(r for r in rows if group in r.groups)
    outside, outside_cells = _measures(r for r in rows if group not in r.groups)
    return Table(
        f"{group} beside everyone else on roll",
        "Group",
        "Pupils",
        PUPIL_COLUMNS,
        (Row(group, inside, inside_cells), Row(f"Not {group}", outside, outside_cells)),
        (),
        "pupil",
    )


def gap(shown: Shown, column: int) -> Decimal | None:
    """The group's published percentage less everyone else's, in points; None when either is hidden."""
    mine, theirs = shown.share(0, column), shown.share(1, column)
    return None if mine is None or theirs is None else mine - theirs


def cohorts_table(cohorts: Sequence[CohortCoverage]) -> Table:
    rows = tuple(
        Row(
            f"Leavers of {c.cohort} (year {c.year_after_leaving})",
            c.alumni,
            (c.known, c.not_known, c.cannot_be_contacted, c.sustained, c.neet, c.consenting),
        )
        for c in cohorts
    )
    return Table(
        "Destinations of the last three leaving cohorts",
        "Cohort",
        "Alumni",
        COHORT_COLUMNS,
        rows,
        COHORT_NOTES,
        "alumnus",
        adds_up=3,
    )


def only(table: Table, columns: Sequence[str], title: str) -> Table:
    """The same rows with some of the columns (each a measure of its own, so any subset stands alone)."""
    picks = [table.columns.index(c) for c in columns]
    rows = tuple(Row(r.label, r.base, tuple(r.cells[i] for i in picks)) for r in table.rows)
    return Table(title, table.row_header, table.base_header, tuple(columns), rows, table.notes, table.base_one)


RECORD_COLUMNS = PUPIL_COLUMNS[:7]
ACCESS_COLUMNS = PUPIL_COLUMNS[7:]


def evidence(
    pupils: Sequence[PupilEvidence], cohorts: Sequence[CohortCoverage], *, school_name: str, school_year: str
) -> Evidence:
    years = by_year_group(pupils)
    groups = tuple(targeted_group(pupils, g) for g in TARGETED)
    destinations = cohorts_table(cohorts)
    return Evidence(
        f"{school_name}: Gatsby Benchmark 3 evidence, school year {school_year}",
        (
            Criterion(
                "Records of advice and agreed decisions",
                "Guidance conversations this year, agreed actions (done, open, overdue) and next steps recorded.",
                (only(years, RECORD_COLUMNS, "Advice and agreed decisions by year group"),),
            ),
            Criterion(
                "Pupils' access to their own records",
                "Pupils with a linked account, writing in their journal and recording employer encounters.",
                (only(years, ACCESS_COLUMNS, "Pupils' own records by year group"),),
            ),
            Criterion(
                "Three years of destinations",
                "Destination coverage, sustained destinations and NEET for the last three leaving cohorts, "
                "and the alumni willing to help pupils.",
                (destinations,),
            ),
            Criterion(
                "Provision for targeted groups",
                "Each targeted group beside everyone else on roll, with the gap in percentage points.",
                groups,
            ),
        ),
    )
