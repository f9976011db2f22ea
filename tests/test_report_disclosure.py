"""Disclosure control in every published form of a report: text, CSV, the Rich table, the chart's data.

A fixed fixture school whose Year 3 leavers by SEND are the issue's case: 11 alumni, 10 with no
SEND, one on SEN support, none with an EHC plan. Hiding "SEN support / Education" alone left it as
All 11 - No SEND 10 = 1; every figure below is exact, and no hidden one can be worked out.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from rich.console import Console
from sqlalchemy import Engine

import bot.cli  # noqa: F401  (registers the report commands before report_cli is imported alone)
from bot.report_cli import print_table
from reports import build, disclosure
from reports.charts import HIDDEN_NAME, Segment, coverage_share, stacked_segments
from reports.export import to_csv
from reports.tables import HIDDEN, Row, Shown, Table, publish, render_text
from storage import seed
from storage.db import transaction
from storage.models import School, StaffRole
from storage.reports import GROUPS, Breakdown
from tests.chat import Chat
from tests.test_reports import SETTINGS, TODAY, alumnus, destination, dispatcher

LEFT_2024 = date(2024, 7, 19)  # in November 2026 these leavers are in year 3
REPORTED = datetime(2026, 10, 5, tzinfo=UTC)
EDUCATION, EMPLOYMENT, NEET = GROUPS.index("education"), GROUPS.index("employment"), GROUPS.index("NEET")


def year3_school(engine: Engine) -> int:
    school = seed.school(engine, "Fixture Academy")
    assert school.id is not None
    plan = (
        [("N", 230, "education")] * 6 + [("N", 330, "employment")] * 3 + [("N", 619, "NEET"), ("K", 230, "education")]
    )
    for number, (send, code, group) in enumerate(plan):
        person = alumnus(engine, school.id, f"Pupil{number}", LEFT_2024, send=send)
        destination(engine, person, 3, code, group, REPORTED)
    return school.id


def year3_by_send(engine: Engine, school_id: int) -> Table:
    with transaction(engine, write=False) as session:
        school = session.get(School, school_id)
        assert school is not None
        return build.destinations(session, school, SETTINGS, today=TODAY, year_after_leaving=3, by=Breakdown.send)


def assert_nothing_pinned(shown: Shown) -> None:
    """Solve what a reader sees (the split columns add up to each base) for every hidden entry."""
    table, split = shown.table, shown.table.adds_up
    grid = disclosure.Grid.of([r.cells[:split] for r in table.rows], [r.base for r in table.rows])
    hidden = frozenset(
        (r, split if c == len(table.columns) else c) for r, c in shown.hidden if c < split or c == len(table.columns)
    )
    assert disclosure.pinned(grid, hidden) == frozenset()


def test_year3_by_send_hides_enough_that_nothing_follows_by_subtraction(engine: Engine) -> None:
    table = year3_by_send(engine, year3_school(engine))
    assert [(r.label, r.base) for r in table.rows] == [("No SEND", 10), ("SEN support", 1)]
    shown = publish(table, suppress_small=True)
    assert shown.count(1, EDUCATION) is None  # the 1
    assert shown.base(1) is None and shown.base(0) is None  # else 11 - 10 = 1
    assert shown.count(0, EDUCATION) is None  # else 10 - 6 - 3 - 1...
    assert shown.base(2) == 11 and shown.count(2, EDUCATION) == 7
    assert shown.share(2, EDUCATION) == Decimal(64)  # 7/11 = 63.6
    assert_nothing_pinned(shown)

    text = render_text(table, suppress_small=True)
    assert "SEN support: x alumni\n  Education: x\n" in text
    assert "All: 11 alumni\n  Education: 7 (64%)\n" in text
    assert "Counts from 1 to 4 are hidden" in text
    unsuppressed = render_text(table)
    assert "SEN support: 1 alumnus\n  Education: 1 (100%)" in unsuppressed
    assert "No SEND: 10 alumni\n  Education: 6 (60%)\n  Employment: 3 (30%)\n  NEET: 1 (10%)" in unsuppressed

    lines = list(csv.reader(io.StringIO(to_csv(table, suppress_small=True).decode("utf-8-sig"))))
    assert lines[0][:6] == ["SEND", "Alumni", "Education", "Education %", "Apprenticeship", "Apprenticeship %"]
    assert lines[1][:4] == ["No SEND", HIDDEN, HIDDEN, ""]
    assert lines[2][:4] == ["SEN support", HIDDEN, HIDDEN, ""]
    assert lines[3][:4] == ["All", "11", "7", "64%"]
    assert "1" not in {cell for line in lines[1:3] for cell in line}

    console = Console(width=80, record=True)
    print_table(table, True, console)
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    assert "Apprenticeship" in out and "Cannot be" in out and "SEN support" in out


def test_chart_draws_hidden_counts_as_one_block_from_published_figures(engine: Engine) -> None:
    table = year3_by_send(engine, year3_school(engine))
    bars = stacked_segments(publish(table, suppress_small=True), len(GROUPS))
    # Both bases are hidden: each bar is one hidden block, nothing at its true width.
    assert [(b.label, b.segments) for b in bars] == [
        ("No SEND (x)", (Segment(HIDDEN_NAME, None, Decimal(100)),)),
        ("SEN support (x)", (Segment(HIDDEN_NAME, None, Decimal(100)),)),
    ]
    plain = stacked_segments(publish(table), len(GROUPS))
    assert plain[0].segments == (
        Segment("Education", 6, Decimal(60)),
        Segment("Employment", 3, Decimal(30)),
        Segment("NEET", 1, Decimal(10)),
    )


def test_chart_hidden_block_is_the_base_less_the_shown_counts() -> None:
    from reports.tables import destinations_table
    from storage.reports import DestinationCount

    counts = [
        DestinationCount("F", "education", 20, 0),
        DestinationCount("F", "employment", 2, 0),
        DestinationCount("F", "NEET", 8, 0),
        DestinationCount("M", "education", 20, 0),
        DestinationCount("M", "employment", 9, 0),
        DestinationCount("M", "NEET", 6, 0),
    ]
    table = destinations_table(counts, by=Breakdown.gender, year_after_leaving=1)
    shown = publish(table, suppress_small=True)
    assert_nothing_pinned(shown)
    bars = stacked_segments(shown, len(GROUPS))
    female = bars[0]
    assert female.label == "Female (30)"
    hidden = [s for s in female.segments if s.count is None]
    assert len(hidden) == 1  # one block, whatever the number of hidden counts
    assert sum(s.share for s in female.segments) == 100
    shown_total = sum(s.count or 0 for s in female.segments)
    assert hidden[0].share == Decimal(100 * (30 - shown_total)) / 30
    assert all(s.count != 2 for s in female.segments)


def test_coverage_suppression_and_rounding_halves_up() -> None:
    columns = ("Guidance this year", "Next step recorded", "Action open", "Action overdue")
    rows = (Row("Year 10", 40, (1, 3, 20, 0)), Row("Year 11", 40, (38, 30, 10, 6)))
    table = Table("Coverage by year group", "Year group", "Pupils", columns, rows, (), "pupil")
    plain = publish(table)
    assert plain.share(0, 0) == Decimal(3) and plain.share(0, 1) == Decimal(8)  # 2.5% and 7.5%, halves up
    shown = publish(table, suppress_small=True)
    assert shown.count(0, 0) is None and shown.count(0, 1) is None
    # The total less Year 11's 38 would give it away: one of them is hidden too.
    assert shown.count(1, 0) is None or shown.count(2, 0) is None
    grid = disclosure.Grid.of([r.cells for r in table.rows], [r.base for r in table.rows], rows_add_up=False)
    hidden = frozenset((r, 4 if c == len(table.columns) else c) for r, c in shown.hidden)
    assert disclosure.pinned(grid, hidden) == frozenset()
    assert coverage_share(shown, 0, 0) == 0.0 and coverage_share(shown, 1, 2) == 25.0
    assert "Year 10: 40 pupils\n  Guidance this year: x\n" in render_text(table, suppress_small=True)


@pytest.mark.parametrize("words", ["destinations 3 send share", "destinations 3 send"])
def test_leader_asks_for_the_version_to_share_in_the_chat(engine: Engine, words: str) -> None:
    school_id = year3_school(engine)
    leader = seed.staff(engine, school_id, "Lee", "Morgan", role=StaffRole.leader)
    seed.link(engine, leader, "console", "lee")
    chat = Chat(dispatcher(engine), "lee")
    replies = chat.say(f"/report {words}")
    text, chart, sheet = replies[0].text, replies[1], replies[2]
    assert chart.image is not None and sheet.file is not None
    lines = list(csv.reader(io.StringIO(sheet.file.decode("utf-8-sig"))))
    if words.endswith("share"):
        assert "SEN support: x alumni" in text and sheet.file_name == "destinations-year3-send-to-share.csv"
        assert lines[2][:3] == ["SEN support", HIDDEN, HIDDEN]
    else:
        assert "SEN support: 1 alumnus" in text
        assert lines[2][:3] == ["SEN support", "1", "1"]


def test_workbook_has_numbers_frozen_headers_and_no_hidden_count(engine: Engine) -> None:
    from openpyxl import load_workbook

    from reports.xlsx import to_xlsx

    table = year3_by_send(engine, year3_school(engine))
    book = load_workbook(io.BytesIO(to_xlsx([table, table], suppress_small=True)))
    assert book.sheetnames == ["Destinations of leavers of 2024", "Destinations of leavers of  (2)"]
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "B3"
    assert [c.value for c in sheet[2]][:4] == ["SEND", "Alumni", "Education", "Education %"]
    assert [c.value for c in sheet[3]][:4] == ["No SEND", HIDDEN, HIDDEN, None]
    assert [c.value for c in sheet[5]][:4] == ["All", 11, 7, 0.64]  # numbers, not text
    values = [c.value for row in sheet.iter_rows(min_row=3, max_row=4) for c in row]
    assert 1 not in values and 10 not in values


def test_formula_labels_are_text_in_the_workbook() -> None:
    from openpyxl import load_workbook

    from reports.tables import destinations_table
    from reports.xlsx import to_xlsx
    from storage.reports import DestinationCount

    table = destinations_table(
        [DestinationCount("=HYPERLINK(1)", "education", 9, 0)], by=Breakdown.ethnicity, year_after_leaving=1
    )
    sheet = load_workbook(io.BytesIO(to_xlsx([table]))).worksheets[0]
    assert sheet["A3"].value == "'=HYPERLINK(1)" and sheet["A3"].data_type == "s"


def test_cohorts_side_by_side_and_eal_and_looked_after_breakdowns(engine: Engine) -> None:
    school = seed.school(engine, "Cohort Academy")
    assert school.id is not None
    for number, (left, eal, looked_after) in enumerate(
        [(date(2023, 7, 20), True, False), (date(2024, 7, 19), False, True), (date(2024, 7, 19), False, False)]
    ):
        person = alumnus(engine, school.id, f"A{number}", left, eal=eal, looked_after=looked_after)
        destination(engine, person, 1, 230, "education", datetime(left.year, 10, 5, tzinfo=UTC))
    with transaction(engine, write=False) as session:
        row = session.get(School, school.id)
        assert row is not None
        both = build.destinations(
            session, row, SETTINGS, today=TODAY, year_after_leaving=1, by=Breakdown.eal, cohorts=[2023, 2024]
        )
        cared = build.destinations(session, row, SETTINGS, today=TODAY, year_after_leaving=1, by=Breakdown.looked_after)
    assert [(r.label, r.base, r.cells[EDUCATION]) for r in both.rows] == [
        ("2023: EAL", 1, 1),
        ("2024: Not EAL", 2, 2),
    ]
    assert "leavers of 2023, 2024" in both.title and both.title.endswith("by EAL (English as an additional language)")
    assert [(r.label, r.base) for r in cared.rows] == [("Looked after", 1), ("Not looked after", 2)]
