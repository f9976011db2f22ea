"""The Benchmark 3 evidence page: the figures a careers leader gives governors or an inspector.

Pure arrangement of `storage.reports` aggregates into tables (`reports.tables.Table`), grouped
under the benchmark's criteria as the issue names them. A targeted group's table is the group beside
everyone else on roll, and the gap is the difference of the two published percentages (none when
either is hidden).

The page is suppressed as a whole: its tables share numbers (each targeted group's "All" row is the
year-group tables' "All" row; the two year-group tables share their pupils per year; "Year 10 up"
of Year 10 and above is that year's pupils), so a number hidden in one table and shown in another
would give it away. `suppressed_together` hides each shared number everywhere it appears until no
table hides more (`Table.also_hidden`), and each table's own suppression then holds for the page.

What else the page hides, and why: by year group, "Year 10 up" repeats each year's pupils from Year
10 and is 0 below, so its total less "All" is how many pupils are below Year 10 between them, and a
lone hidden Year 7 would be that less the years shown; the year-group table tells disclosure control
so (`Table.copies_base`), and never hides next steps below Year 10, which are 0 by definition
(`Table.counted_within`), since hiding one protects nothing. The CSV and the chat's summary are this
page's year-group figures (`year_groups`, `summary`), so they hide exactly what it hides.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import product

from reports.tables import Row, Shown, Table, publish
from storage.reports import AT_RISK, TARGETED, CohortCoverage, PupilEvidence

UPPER = "Year 10 up"  # pupils in Year 10 and above (by year group, the year's pupils or none)
PUPIL_COLUMNS: tuple[str, ...] = (
    "Guidance this year",
    "Agreed actions",
    "Action done",
    "Action open",
    "Action overdue",
    UPPER,
    "Next step recorded",
    "Account linked",
    "Journal this year",
    "Employer encounter this year",
)
NEXT_STEP_OF_UPPER = (("Next step recorded", UPPER),)  # next steps are counted in Year 10 up only
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
        "Pupils on roll by year group",
        "Year group",
        "Pupils",
        PUPIL_COLUMNS,
        tuple(table_rows),
        PUPIL_NOTES,
        "pupil",
        copies_base=UPPER,  # each year from Year 10 is all Year 10 up; below it, none
        counted_within=NEXT_STEP_OF_UPPER,
    )


AT_RISK_NOTE = (
    "At risk of NEET: the school's at-risk rule, as on the caseload (roster factors such as SEND, "
    "attendance and exclusions, and no next step, overdue actions or no guidance this year).",
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
        AT_RISK_NOTE if group == AT_RISK else (),
        "pupil",
        counted_within=NEXT_STEP_OF_UPPER,
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
    copies = table.copies_base if table.copies_base in columns else None
    within = tuple(pair for pair in table.counted_within if set(pair) <= set(columns))
    return Table(
        title,
        table.row_header,
        table.base_header,
        tuple(columns),
        rows,
        table.notes,
        table.base_one,
        copies_base=copies,
        counted_within=within,
    )


RECORD_COLUMNS = PUPIL_COLUMNS[:7]
ACCESS_COLUMNS = PUPIL_COLUMNS[7:]
Key = Callable[[int, int], Hashable | None]  # (row, column) of one table -> the number it shows, if shared


def pupil_keys(table: Table, *, by_year: bool) -> Key:
    """What each entry of a pupil table is, for the numbers the page's tables share: the "All" row
    (every pupil on roll) in every table; with `by_year`, each year group's pupils, and "Year 10 up"
    of a year group from Year 10, which is that year's pupils again. Anything else is the table's own."""
    height, width = len(table.rows), len(table.columns)
    upper = table.columns.index(UPPER) if UPPER in table.columns else None

    def key(row: int, column: int) -> Hashable | None:
        measure = "pupils" if column == width else table.columns[column]
        if row == height:
            return ("all", measure)
        if not by_year:
            return None
        label = table.rows[row].label
        year = label.removeprefix("Year ")
        if column == upper and year.isdigit() and int(year) >= 10:
            measure = "pupils"
        return ("year", label, measure)

    return key


def suppressed_together(tables: Sequence[Table], keys: Sequence[Key]) -> list[Table]:
    """The tables with `also_hidden` set so that a number they share is hidden in all or in none,
    when they are published with small counts suppressed. Hiding only grows, so this ends."""
    also: list[frozenset[tuple[int, int]]] = [t.also_hidden for t in tables]
    while True:
        hidden_keys = set()
        for table, key, extra in zip(tables, keys, also, strict=True):
            for entry in publish(replace(table, also_hidden=extra), suppress_small=True).hidden:
                if (found := key(*entry)) is not None:
                    hidden_keys.add(found)
        grown = [
            extra
            | frozenset(
                e for e in product(range(len(table.rows) + 1), range(len(table.columns) + 1)) if key(*e) in hidden_keys
            )
            for table, key, extra in zip(tables, keys, also, strict=True)
        ]
        if grown == also:
            return [replace(t, also_hidden=a) for t, a in zip(tables, also, strict=True)]
        also = grown


EVIDENCE_WORDS = "Gatsby Benchmark 3 evidence"


def _hidden_on_the_page(table: Table) -> frozenset[tuple[int, int]]:
    return publish(table, suppress_small=True).hidden


def year_groups(page: Evidence) -> Table:
    """The page's two year-group tables as one (every measure per year group, for a spreadsheet),
    hiding, when suppressed, every number either of them hides on the page and no fewer."""
    records, access = (c.tables[0] for c in page.criteria[:2])
    height, left = len(records.rows), len(records.columns)
    width = left + len(access.columns)
    hidden = {(r, width if c == left else c) for r, c in _hidden_on_the_page(records)}
    hidden |= {(r, width if c == len(access.columns) else left + c) for r, c in _hidden_on_the_page(access)}
    rows = tuple(Row(a.label, a.base, a.cells + b.cells) for a, b in zip(records.rows, access.rows, strict=True))
    assert all(a.label == b.label and a.base == b.base for a, b in zip(records.rows, access.rows, strict=True))
    return Table(
        page.title.replace(EVIDENCE_WORDS, "Benchmark 3, pupils on roll by year group"),
        records.row_header,
        records.base_header,
        records.columns + access.columns,
        rows,
        PUPIL_NOTES,
        "pupil",
        also_hidden=frozenset(e for e in hidden if e[0] <= height),
        copies_base=records.copies_base,
        counted_within=records.counted_within,
    )


SUMMARY_COLUMNS = ("Guidance this year", "Next step recorded", "Action open", "Action overdue")
SUMMARY_NOTES = (
    "Pupils on roll. Guidance this year: an advice conversation logged since 1 September. Next step "
    "recorded: of pupils in Year 10 up. Action open, overdue: pupils with at least one such agreed action.",
)


def summary(page: Evidence) -> Table:
    """A short view of the year groups for a phone: four measures, each hidden wherever the page hides it
    (so the chat, its chart and the page never show one number two ways)."""
    whole = year_groups(page)
    short = _view(whole, whole.also_hidden, SUMMARY_COLUMNS, page.title.replace(EVIDENCE_WORDS, "Benchmark 3 summary"))
    return replace(short, notes=SUMMARY_NOTES)


def _view(table: Table, hidden: frozenset[tuple[int, int]], columns: Sequence[str], title: str) -> Table:
    """`only` those columns, hiding what `hidden` (the whole table's) hides among them and the bases."""
    width, picks = len(table.columns), [table.columns.index(c) for c in columns]
    at = {column: index for index, column in enumerate(picks)} | {width: len(picks)}
    return replace(only(table, columns, title), also_hidden=frozenset((r, at[c]) for r, c in hidden if c in at))


def evidence(
    pupils: Sequence[PupilEvidence], cohorts: Sequence[CohortCoverage], *, school_name: str, school_year: str
) -> Evidence:
    whole_years = by_year_group(pupils)
    targeted = [targeted_group(pupils, g) for g in TARGETED]
    # The year groups are suppressed as one table (every measure, and the "Year 10 up" subtotal
    # known to all of them), then shown as two views that hide its hidden numbers: suppressing
    # the views apart let each hide a different base, and the page hid the union.
    together = suppressed_together(
        [whole_years, *targeted],
        [pupil_keys(whole_years, by_year=True)] + [pupil_keys(t, by_year=False) for t in targeted],
    )
    years, groups = together[0], tuple(together[1:])
    hidden = publish(years, suppress_small=True).hidden
    records = _view(years, hidden, RECORD_COLUMNS, "Advice and agreed decisions by year group")
    access = _view(years, hidden, ACCESS_COLUMNS, "Pupils' own records by year group")
    destinations = cohorts_table(cohorts)
    return Evidence(
        f"{school_name}: {EVIDENCE_WORDS}, school year {school_year}",
        (
            Criterion(
                "Records of advice and agreed decisions",
                "Guidance conversations this year, agreed actions (done, open, overdue) and next steps recorded.",
                (records,),
            ),
            Criterion(
                "Pupils' access to their own records",
                "Pupils with a linked account, writing in their journal and recording employer encounters.",
                (access,),
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
