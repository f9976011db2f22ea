"""Destination and Benchmark 3 reports: exact counts from SQL, the CSV, the chart, /report and the CLI."""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from core.settings import load_settings
from handlers import Dispatcher
from handlers.report import parse
from reports import build, evidence
from reports.charts import DPI, FIGURE_WIDTH_IN, MIN_FONT_PT, PNG_SIGNATURE, alt_text, coverage_bars, stacked_bars
from reports.export import BOM, to_csv
from reports.tables import Table, destinations_table, render_text
from storage import reports, seed
from storage.db import transaction
from storage.models import (
    AdviceRecord,
    AgreedAction,
    AuditEvent,
    Checkin,
    Destination,
    Person,
    PersonStatus,
    Role,
    School,
    StaffRole,
)
from storage.reports import EXPORT_REPORT, GROUPS, Breakdown, DestinationCount, PupilEvidence
from tests.chat import Chat

NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # campaign 2026 has opened: 2025 leavers are in year 2
TODAY = NOW.date()
SETTINGS = load_settings(database_url="sqlite://", timezone="Europe/London")
LEFT_2025 = date(2025, 7, 18)
LEFT_2026 = date(2026, 7, 17)


@dataclass
class Seeded:
    school_id: int
    leader: Person
    tutor: Person
    pupil: Person


def alumnus(engine: Engine, school_id: int, name: str, left: date, **fields: object) -> Person:
    person = seed.pupil(engine, school_id, name, "Leaver", year_group=None, form=None, **fields)  # type: ignore[arg-type]
    with transaction(engine) as session:
        row = session.get(Person, person.id)
        assert row is not None
        row.role, row.status, row.leaving_date = Role.alumnus, PersonStatus.left, left
        session.add(row)
    return person


def destination(
    engine: Engine, person: Person, year: int, code: int, group: str, reported: datetime, source: str = "alumnus"
) -> None:
    assert person.id is not None
    with transaction(engine) as session:
        session.add(
            Destination(
                person_id=person.id,
                year_after_leaving=year,
                category="x",
                nccis_code=code,
                group=group,
                reported_at=reported,
                source=source,
            )
        )


def checkin(
    engine: Engine, person: Person, year: int, reminders: int, status: str = "sent", campaign_year: int | None = None
) -> None:
    assert person.id is not None
    campaign = campaign_year or 2024 + year
    with transaction(engine) as session:
        session.add(
            Checkin(
                person_id=person.id,
                campaign_year=campaign,
                year_after_leaving=year,
                channel="telegram",
                status=status,
                reminders=reminders,
                sent_at=datetime(campaign, 10, 2, tzinfo=UTC),
            )
        )


def seed_alumni(engine: Engine, school_id: int) -> None:
    """Five 2025 leavers (years 1 and 2 are due) and two 2026 leavers (year 1 only)."""
    oct25, oct26 = datetime(2025, 10, 5, tzinfo=UTC), datetime(2026, 10, 5, tzinfo=UTC)
    a1 = alumnus(engine, school_id, "Ada", LEFT_2025, gender="F", send="N", pupil_premium=True, ethnicity="WBRI")
    destination(engine, a1, 1, 230, "education", oct25)
    destination(engine, a1, 2, 240, "education", oct26)  # sustained
    a2 = alumnus(engine, school_id, "Bea", LEFT_2025, gender="F", send="K", ethnicity="ABAN")
    destination(engine, a2, 1, 330, "employment", oct25)
    destination(engine, a2, 2, 619, "NEET", oct26)
    a3 = alumnus(engine, school_id, "Cal", LEFT_2025, gender="M", send="E", pupil_premium=True, fsm=True)
    destination(engine, a3, 1, 310, "apprenticeship", oct25)
    # Staff refined it a month later: the latest report is the one that counts.
    destination(engine, a3, 1, 430, "training", datetime(2025, 11, 5, tzinfo=UTC), source="staff")
    a4 = alumnus(engine, school_id, "Dev", LEFT_2025, gender="M")
    checkin(engine, a4, 1, reminders=2)  # unanswered after both reminders: cannot be contacted
    alumnus(engine, school_id, "Eli", LEFT_2025)  # nothing at all, no gender recorded
    a6 = alumnus(engine, school_id, "Fay", LEFT_2026, gender="F")
    destination(engine, a6, 1, 210, "education", oct26)
    a7 = alumnus(engine, school_id, "Gus", LEFT_2026, gender="M")
    checkin(engine, a7, 1, reminders=0, campaign_year=2026)  # still inside its reminders


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    school = seed.school(engine)
    other = seed.school(engine, "Elsewhere High")
    assert school.id is not None and other.id is not None
    seed_alumni(engine, school.id)
    stranger = alumnus(engine, other.id, "Zed", LEFT_2025, gender="F")
    destination(engine, stranger, 1, 240, "education", datetime(2025, 10, 5, tzinfo=UTC))
    leader = seed.staff(engine, school.id, "Lee", "Morgan", role=StaffRole.leader)
    tutor = seed.staff(engine, school.id, "Sam", "Patel")
    pupil = seed.pupil(engine, school.id, "Amira", "Khan", dob=date(2009, 1, 1), gender="F")
    seed.link(engine, leader, "console", "lee")
    seed.link(engine, tutor, "console", "sam")
    seed.link(engine, pupil, "console", "amira")
    return Seeded(school.id, leader, tutor, pupil)


def as_dict(rows: list[DestinationCount]) -> dict[tuple[str, str], int]:
    return {(r.value, r.group): r.alumni for r in rows}


def counts(engine: Engine, school_id: int, year: int, by: Breakdown, **kw: object) -> list[DestinationCount]:
    with transaction(engine, write=False) as session:
        before = kw.pop("left_before", date(2026, 10, 1))
        return reports.destination_counts(
            session,
            school_id,
            year_after_leaving=year,
            by=by,
            left_before=before,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )


# ---- SQL counts ---------------------------------------------------------------------------------


def test_year_one_by_gender_counts_every_group_exactly(engine: Engine, seeded: Seeded) -> None:
    rows = counts(engine, seeded.school_id, 1, Breakdown.gender)
    assert as_dict(rows) == {
        ("F", "education"): 2,
        ("F", "employment"): 1,
        ("M", "training"): 1,  # the staff refinement, not the earlier apprenticeship
        ("M", "cannot be contacted"): 1,
        ("M", "not known"): 1,  # still inside the reminders: not yet "cannot be contacted"
        ("", "not known"): 1,  # no destination, no check-in
    }
    assert sum(r.alumni for r in rows) == 7  # the other school's alumnus and the pupil are not counted


def test_year_two_counts_only_leavers_who_reached_it_and_sustained(engine: Engine, seeded: Seeded) -> None:
    with transaction(engine, write=False) as session:
        school = session.get(School, seeded.school_id)
        assert school is not None
        table = build.destinations(session, school, SETTINGS, today=TODAY, year_after_leaving=2, by=Breakdown.gender)
    assert [r.label for r in table.rows] == ["Female", "Male", "Not recorded"]
    assert table.columns[-1] == "Sustained"
    female, male, unknown = table.rows
    assert (female.base, male.base, unknown.base) == (2, 2, 1)  # the 2026 leavers are not in year 2 yet
    cols = list(table.columns)
    assert female.cells[cols.index("Education")] == 1 and female.cells[cols.index("NEET")] == 1
    assert female.cells[cols.index("Sustained")] == 1
    assert male.cells[cols.index("Not known")] == 2 and male.cells[cols.index("Sustained")] == 0
    assert table.total().base == 5


def test_breakdowns_by_send_pupil_premium_fsm_and_ethnicity(engine: Engine, seeded: Seeded) -> None:
    sid = seeded.school_id
    assert as_dict(counts(engine, sid, 1, Breakdown.send)) == {
        ("E", "training"): 1,
        ("K", "employment"): 1,
        ("N", "cannot be contacted"): 1,
        ("N", "education"): 2,
        ("N", "not known"): 2,
    }
    table = destinations_table(counts(engine, sid, 1, Breakdown.send), by=Breakdown.send, year_after_leaving=1)
    assert [r.label for r in table.rows] == ["No SEND", "SEN support", "EHC plan"]
    assert table.title == "Destinations of leavers, year 1 after leaving, by SEND"
    cohort_2025 = {"left_from": date(2025, 1, 1), "left_before": date(2026, 1, 1)}
    assert as_dict(counts(engine, sid, 1, Breakdown.pupil_premium, **cohort_2025)) == {
        ("N", "cannot be contacted"): 1,
        ("N", "employment"): 1,
        ("N", "not known"): 1,
        ("Y", "education"): 1,
        ("Y", "training"): 1,
    }
    fsm = as_dict(counts(engine, sid, 1, Breakdown.fsm))
    assert fsm[("Y", "training")] == 1 and sum(n for (v, _), n in fsm.items() if v == "N") == 6
    ethnicity = as_dict(counts(engine, sid, 1, Breakdown.ethnicity))
    assert ethnicity[("WBRI", "education")] == 1 and ethnicity[("ABAN", "employment")] == 1
    assert sum(n for (v, _), n in ethnicity.items() if v == "") == 5


def test_unreachable_checkin_counts_as_cannot_be_contacted(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    person = alumnus(engine, school.id, "Hal", LEFT_2025)
    checkin(engine, person, 1, reminders=0, status="unreachable")
    assert as_dict(counts(engine, school.id, 1, Breakdown.gender)) == {("", "cannot be contacted"): 1}


def test_a_breakdown_reads_the_rows_that_count_from_their_index_alone(sqlite_only: Engine) -> None:
    # Issue 15: without `latest` among the index's columns, SQLite read every alumnus's destination
    # row to test the LEFT JOIN's `ON ... latest`, and one breakdown cost 1.4x a plain GROUP BY.
    leavers = reports.Leavers(1, 2, date(2026, 8, 1), None, 2)
    query = reports.breakdown_query(leavers, [Breakdown.gender], postgres=False)
    with sqlite_only.connect() as connection:
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    read = [step for step in plan if step.split()[1:2] == ["destination"]]  # SEARCH or SCAN of it
    assert read == [
        "SEARCH destination USING COVERING INDEX ix_destination_latest (year_after_leaving=? AND person_id=?) LEFT-JOIN"
    ], plan


def test_benchmark3_summary_per_year_group(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    tutor = seed.staff(engine, school.id)
    p1 = seed.pupil(engine, school.id, "Ana", "One", year_group=11, next_step="College")
    p2 = seed.pupil(engine, school.id, "Bo", "Two", year_group=11, next_step="  ")
    p3 = seed.pupil(engine, school.id, "Cy", "Three", year_group=10, form="10A")
    seed.pupil(engine, school.id, "Di", "Gone", year_group=11, status=PersonStatus.left)
    with transaction(engine) as session:
        assert tutor.id and p1.id and p2.id and p3.id
        session.add(AdviceRecord(pupil_id=p1.id, staff_id=tutor.id, kind="other", summary="s", created_at=NOW))
        last_year = datetime(2026, 6, 1, tzinfo=UTC)
        session.add(AdviceRecord(pupil_id=p2.id, staff_id=tutor.id, kind="other", summary="s", created_at=last_year))
        session.add(AgreedAction(pupil_id=p1.id, text="apply", due_date=date(2026, 11, 1)))  # overdue
        session.add(AgreedAction(pupil_id=p3.id, text="visit", due_date=date(2026, 12, 1)))  # open
        session.add(AgreedAction(pupil_id=p2.id, text="done", status="done", due_date=date(2026, 10, 1)))
    with transaction(engine, write=False) as session:
        school_row = session.get(School, school.id)
        assert school_row is not None
        table = evidence.summary(build.benchmark3_evidence(session, school_row, SETTINGS, today=TODAY))
    assert [(r.label, r.base, r.cells) for r in table.rows] == [
        ("Year 10", 1, (0, 0, 1, 0)),
        ("Year 11", 2, (1, 1, 1, 1)),
    ]
    assert "school year 2026-27" in table.title


# ---- formatting ---------------------------------------------------------------------------------


def sample_table() -> Table:
    rows = [
        DestinationCount("F", "education", 12, 0),
        DestinationCount("F", "NEET", 3, 0),
        DestinationCount("Zoë", "employment", 7, 0),
    ]
    return destinations_table(rows, by=Breakdown.gender, year_after_leaving=1)


def test_csv_has_bom_header_rows_and_total() -> None:
    data = to_csv(sample_table())
    assert data.startswith(BOM.encode("utf-8"))
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0][:4] == ["Gender", "Alumni", "Education", "Education %"]
    assert lines[1][:4] == ["Female", "15", "12", "80%"]
    assert lines[2][:2] == ["Zoë", "7"]
    assert lines[-1][:3] == ["All", "22", "12"]


def test_suppress_small_hides_counts_from_one_to_four() -> None:
    table = sample_table()
    lines = list(csv.reader(io.StringIO(to_csv(table, suppress_small=True).decode("utf-8-sig"))))
    neet = lines[0].index("NEET")
    assert lines[1][neet] == "x" and lines[1][neet + 1] == ""  # no percentage that would give it away
    assert lines[1][lines[0].index("Employment")] == "x"  # else 15 - 12 - 0 would give it away
    text = render_text(table, suppress_small=True)
    assert "NEET: x" in text and "Counts from 1 to 4 are hidden" in text
    assert "NEET: 3 (20%)" in render_text(table)


def png_size(image: bytes) -> tuple[int, int]:
    assert image.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", image[16:24])
    return width, height


def test_charts_are_drawn_for_a_phone() -> None:
    """Shown 280 CSS pixels wide (a 320 px phone, less the chat's margins), text is 14 px or more."""
    for image in (stacked_bars(sample_table(), columns=len(GROUPS)), coverage_bars(benchmark3_sample())):
        width, height = png_size(image)
        assert width == FIGURE_WIDTH_IN * DPI
        assert MIN_FONT_PT * DPI / 72 * 280 / width >= 14
        assert height > width  # taller than wide: one bar under another, each labelled above it
    more_rows = destinations_table(
        [DestinationCount(v, "education", 5, 0) for v in "ABCDEF"], by=Breakdown.ethnicity, year_after_leaving=1
    )
    assert png_size(stacked_bars(more_rows, columns=len(GROUPS)))[1] > png_size(stacked_bars(sample_table()))[1]


def test_a_chart_says_its_figures_in_words_and_who_answered() -> None:
    counts = [
        DestinationCount("F", "education", 12, 0),
        DestinationCount("F", "not known", 2, 0),
        DestinationCount("M", "cannot be contacted", 1, 0),
        DestinationCount("M", "employment", 5, 0),
    ]
    table = destinations_table(counts, by=Breakdown.gender, year_after_leaving=2, left_before=date(2024, 9, 1))
    assert table.title.startswith("Destinations of leavers of 2024 and earlier, year 2 after leaving")
    words = alt_text(table, columns=len(GROUPS))
    assert words.startswith(f"Chart: {table.title}. 17 of 20 answered.")
    assert "Female, 14 alumni: Education 12 (86%), Not known 2 (14%)." in words
    assert "Male, 6 alumni: Employment 5 (83%), Cannot be contacted 1 (17%)." in words
    hidden = alt_text(table, columns=len(GROUPS), suppress_small=True)
    assert "Not known hidden" in hidden and "(14%)" not in hidden
    assert "$" not in alt_text(benchmark3_sample()) and "58 pupils" in alt_text(benchmark3_sample())


def benchmark3_sample() -> Table:
    return evidence.by_year_group(
        [
            PupilEvidence(10, frozenset(), 30, 20, 7, 2, 5, 2, 30, 15, 25, 12, 3),
            PupilEvidence(11, frozenset(), 28, 25, 9, 1, 8, 1, 28, 20, 27, 14, 4),
        ]
    )


def test_parse_report_arguments() -> None:
    assert parse("destinations 2 send").by is Breakdown.send
    assert parse("destinations year 3 by disadvantage").by is Breakdown.pupil_premium
    assert parse("destinations 0 gender").problem
    assert parse("destinations 1 shoe size").problem
    assert parse("<b>hi</b> ✨").problem
    assert parse("benchmark3").kind == "benchmark3"


# ---- /report through the dispatcher -------------------------------------------------------------


def dispatcher(engine: Engine) -> Dispatcher:
    return Dispatcher(engine, SETTINGS, clock=lambda: NOW)


def audit_events(engine: Engine) -> list[AuditEvent]:
    with transaction(engine, write=False) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == EXPORT_REPORT)).all())


@pytest.mark.parametrize("who", ["sam", "amira", "stranger"])
def test_report_refused_to_tutor_pupil_and_stranger(engine: Engine, seeded: Seeded, who: str) -> None:
    chat = Chat(dispatcher(engine), who)
    for attempt in ("/report", "/report destinations 1 gender"):
        replies = chat.say(attempt)
        assert all(r.image is None and r.file is None for r in replies)
        assert "Education" not in chat.text and "Ada" not in chat.text
    chat.press_data("/report benchmark3")  # a forged button gets the same answer
    assert all(r.file is None for r in chat.last)
    assert audit_events(engine) == []


def test_leader_gets_text_chart_and_csv_and_the_export_is_audited(engine: Engine, seeded: Seeded) -> None:
    chat = Chat(dispatcher(engine), "lee")
    chat.say("/report")
    assert chat.buttons() == [
        "Destinations year 1",
        "Destinations year 2",
        "Destinations year 3",
        "Benchmark 3 summary",
        "Alumni who can help",
        "Equality lens (sectors by gender)",
    ]
    chat.press("Destinations year 1")
    assert "Gender" in chat.buttons() and "Disadvantage (pupil premium)" in chat.buttons()
    replies = chat.press("Gender")
    text, chart, sheet = replies
    assert "Female: 3 alumni" in text.text and "Education: 2 (67%)" in text.text
    assert chart.image is not None and chart.image.startswith(PNG_SIGNATURE)
    assert chart.image_alt.startswith("Chart: ") and " answered." in chart.image_alt  # its figures in words
    assert sheet.file is not None and sheet.file.startswith(BOM.encode("utf-8"))
    assert sheet.file_name == "destinations-year1-gender.csv" and sheet.file_type == "text/csv"
    events = audit_events(engine)
    assert [(e.actor_id, e.detail) for e in events] == [(seeded.leader.id, "destinations year 1 by gender")]

    replies = chat.say("/report benchmark3")
    assert "Benchmark 3 summary" in replies[0].text and "Year 11: 1 pupil\n" in replies[0].text
    assert replies[1].image is not None and replies[1].image.startswith(PNG_SIGNATURE)
    assert replies[-1].file is not None and b"Guidance this year" in replies[-1].file
    assert len(audit_events(engine)) == 2


def test_leader_typing_nonsense_gets_a_clear_answer(engine: Engine, seeded: Seeded) -> None:
    chat = Chat(dispatcher(engine), "lee")
    chat.say("/report destinations 9000 gender")
    assert "number from 1 to 10" in chat.text and "Destinations year 1" in chat.buttons()
    chat.say("/report destinations 1 " + "🙂" * 50)
    assert "break destinations down by" in chat.text and "Gender" in chat.buttons()
    chat.say("/report פרויקט")
    assert "I don't know a report called" in chat.text
    assert audit_events(engine) == []


# ---- the command line ---------------------------------------------------------------------------

WAYMARK = [sys.executable, "-c", "from bot.cli import app; app(prog_name='waymark')"]  # the console script


def run_waymark(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script in its own process, as a careers leader runs it."""
    return subprocess.run([*WAYMARK, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_cli_report_destinations_writes_table_csv_and_png(tmp_path: Path) -> None:
    from tests.conftest import sqlite_engine

    db = tmp_path / "cli.db"
    engine = sqlite_engine(db)
    school = seed.school(engine, "Cli Academy")
    assert school.id is not None
    left = date(2020, 7, 17)  # year 1 has long been reached, whatever today is
    for name, gender, code, group in [("A", "F", 230, "education"), ("B", "F", 230, "education"), ("C", "M", 0, "")]:
        person = alumnus(engine, school.id, name, left, gender=gender)
        if code:
            destination(engine, person, 1, code, group, datetime(2020, 10, 5, tzinfo=UTC))
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAYMARK_", "TELEGRAM_", "SLACK_"))}
    env |= {"WAYMARK_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env["COLUMNS"] = "200"
    out_csv, out_png, out_html, out_xlsx = (tmp_path / f"d.{kind}" for kind in ("csv", "png", "html", "xlsx"))
    started = time.monotonic()
    result = run_waymark(
        [
            *("report", "destinations", "--year-after", "1", "--by", "gender"),
            *("--csv", str(out_csv), "--png", str(out_png), "--suppress-small"),
            *("--html", str(out_html), "--xlsx", str(out_xlsx)),
        ],
        tmp_path,
        env,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert re.search(r"Destinations of leavers of \d{4} and earlier, year 1 after leaving,\s+by gender", result.stdout)
    assert "Female" in result.stdout and " x " in result.stdout
    assert "National comparison (DfE):" in result.stdout
    assert "Female: this school x (hidden, as in the table above)" in result.stdout
    assert "England 16-18 (2022/23 release): 82.5% sustained destination" in result.stdout
    assert "similar, not identical" in result.stdout
    rows = list(csv.reader(io.StringIO(out_csv.read_bytes().decode("utf-8-sig"))))
    assert out_csv.read_bytes().startswith(BOM.encode("utf-8"))
    assert rows[0][:3] == ["Gender", "Alumni", "Education"]
    assert rows[1][:3] == ["Female", "x", "x"]
    assert out_png.read_bytes().startswith(PNG_SIGNATURE)
    page = out_html.read_text(encoding="utf-8")
    assert "<caption>Cli Academy: Destinations of leavers of" in page and "<th scope='col'>Gender</th>" in page
    assert "<img src='data:image/png;base64," in page and "<td>x" in page and "x: hidden." in page
    from openpyxl import load_workbook

    sheet = load_workbook(out_xlsx).worksheets[0]
    assert [c.value for c in sheet[2]][:3] == ["Gender", "Alumni", "Education"]
    assert [c.value for c in sheet[3]][:3] == ["Female", "x", "x"]

    bad = subprocess.run(
        [*WAYMARK, "report", "destinations", "--by", "shoe_size"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "shoe_size" in bad.stderr
