"""The Benchmark 3 evidence page is suppressed as a whole: no hidden count follows from all its tables.

The page's pupil tables share numbers: every targeted group's "All" row is the year-group tables'
"All" row, the two year-group tables share each year's pupils, and "Year 10 up" of a year from Year
10 is that year's pupils. The oracle (scipy's linear programming, independent of
`reports.disclosure`) takes every number on the page as one unknown, shown or hidden, with every
sum a reader knows across the tables (columns add up to "All"; a group and everyone else add up to
"All"; the shared numbers are equal; "Year 10 up" of a year from Year 10 is its pupils and of a year
below it 0, so its total less "All" is a known subtotal; next steps, counted in Year 10 up only,
are 0 below it), and asks for each hidden one its least and greatest value.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.evidence import Evidence, evidence, summary, year_groups
from reports.tables import Table, publish
from storage.reports import TARGETED, PupilEvidence

pytest.importorskip("scipy.optimize")

from tests.test_disclosure_control import lp_pinned

EXAMPLES = int(os.environ.get("WAYMARK_TEST_EXAMPLES", "200"))  # last session's leak: found within 70 pages
Unknown = Hashable
NOBODY: Unknown = ("known", 0)  # "Year 10 up" and its next steps below Year 10 (or no year group): 0 by definition


def page_numbers(page: Evidence) -> tuple[dict[Unknown, int], set[Unknown], list[list[tuple[Unknown, int]]]]:
    """Every number of the pupil tables (shared ones once), those hidden, and the sums a reader knows."""
    values: dict[Unknown, int] = {}
    hidden: set[Unknown] = set()
    shown_anywhere: set[Unknown] = set()
    sums: list[list[tuple[Unknown, int]]] = []
    tables = [t for c in page.criteria for t in c.tables if t.base_one == "pupil"]
    for index, table in enumerate(tables):
        shown = publish(table, suppress_small=True)
        by_year = table.row_header == "Year group"
        height, width = len(table.rows), len(table.columns)

        def unknown(
            row: int,
            column: int,
            table: Table = table,
            by_year: bool = by_year,
            height: int = height,
            width: int = width,
            index: int = index,
        ) -> Unknown:
            measure = "pupils" if column == width else table.columns[column]
            if row == height:
                return ("all", measure)
            if not by_year:
                return (index, row, measure)
            label = table.rows[row].label
            year = label.removeprefix("Year ")
            upper = year.isdigit() and int(year) >= 10
            if measure == "Year 10 up":  # a year's own pupils from Year 10, and none below it
                return ("year", label, "pupils") if upper else NOBODY
            if measure == "Next step recorded" and not upper:  # counted in Year 10 up only
                return NOBODY
            return ("year", label, measure)

        for row, r in enumerate(shown.rows):
            for column in range(width + 1):
                value = r.base if column == width else r.cells[column]
                key = unknown(row, column)
                assert values.setdefault(key, value) == value, f"{key} differs between tables"
                if (row, column) not in shown.hidden or key == NOBODY:  # a reader knows it is 0, hidden or not
                    shown_anywhere.add(key)
                else:
                    hidden.add(key)
        for column in range(width + 1):  # each column of the table adds up to its "All"
            sums.append([(unknown(row, column), 1) for row in range(height)] + [(unknown(height, column), -1)])
    return values, hidden - shown_anywhere, sums  # a number shown in any table is known in all


def pinned_on_the_page(page: Evidence) -> set[Unknown]:
    values, hidden, sums = page_numbers(page)
    return lp_pinned(sorted(hidden, key=repr), sums, values.__getitem__)


@st.composite
def pupils(draw: st.DrawFn) -> list[PupilEvidence]:
    found = []
    for year in draw(st.lists(st.integers(min_value=7, max_value=13), min_size=1, max_size=4, unique=True)):
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            n = draw(st.integers(min_value=1, max_value=9))
            upper = n if year >= 10 else 0

            def part(of: int) -> int:
                return draw(st.integers(min_value=0, max_value=of))

            groups = frozenset(draw(st.sets(st.sampled_from(TARGETED), max_size=3)))
            found.append(
                PupilEvidence(
                    year,
                    groups,
                    n,
                    part(n),
                    part(n),
                    part(n),
                    part(n),
                    part(n),
                    upper,
                    part(upper),
                    *(part(n) for _ in "abc"),
                )
            )
    return found


@settings(max_examples=EXAMPLES, deadline=None)
@given(pupils())
def test_no_hidden_count_follows_from_the_whole_evidence_page(rows: list[PupilEvidence]) -> None:
    page = evidence(rows, [], school_name="S", school_year="2026-27")
    assert pinned_on_the_page(page) == set()


def test_a_total_hidden_in_one_table_is_hidden_in_every_table_that_shows_it() -> None:
    # Year 11 and Year 12, two pupils at risk: small counts everywhere, secondary suppression reaches totals.
    rows = [
        PupilEvidence(11, frozenset({"At risk of NEET"}), 2, 1, 0, 0, 0, 0, 2, 1, 2, 0, 0),
        PupilEvidence(11, frozenset(), 9, 6, 3, 3, 0, 0, 9, 8, 7, 5, 5),
        PupilEvidence(12, frozenset({"SEN support"}), 7, 7, 2, 0, 2, 1, 7, 7, 6, 2, 0),
    ]
    page = evidence(rows, [], school_name="S", school_year="2026-27")
    _, hidden, _ = page_numbers(page)
    assert hidden and pinned_on_the_page(page) == set()
    tables = [t for c in page.criteria for t in c.tables if t.base_one == "pupil"]
    for table in tables[2:]:
        shown = publish(table, suppress_small=True)
        for column, name in enumerate(table.columns):
            all_hidden = (2, column) in shown.hidden
            assert all_hidden == (("all", name) in hidden), (table.title, name)


@settings(max_examples=max(EXAMPLES // 10, 5), deadline=None)
@given(pupils())
def test_the_year_group_csv_and_the_chat_summary_hide_what_the_page_hides(rows: list[PupilEvidence]) -> None:
    page = evidence(rows, [], school_name="S", school_year="2026-27")
    views = [publish(c.tables[0], suppress_small=True) for c in page.criteria[:2]]
    whole, short = publish(year_groups(page), suppress_small=True), publish(summary(page), suppress_small=True)

    def hidden_on_the_page(row: int, name: str) -> bool:
        for view in views:
            columns = view.table.columns
            if name in columns or name == "pupils":
                return (row, columns.index(name) if name in columns else len(columns)) in view.hidden
        raise AssertionError(name)

    for shown, exact in ((whole, True), (short, False)):  # the CSV hides exactly what the page does
        names = [*shown.table.columns, "pupils"]
        for row, column in product(range(len(shown.rows)), range(len(names))):
            on_the_page = hidden_on_the_page(row, names[column])
            here = (row, column) in shown.hidden
            assert here == on_the_page if exact else here >= on_the_page, (shown.table.title, row, names[column])
