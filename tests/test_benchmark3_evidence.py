"""The Benchmark 3 evidence page: exact figures on a fixture school, the HTML, the CLI and the chat."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from reports import build
from reports.evidence import Evidence, gap, summary, year_groups
from reports.html import evidence_html
from reports.tables import Table, publish
from storage import consents, seed
from storage.consents import ConsentKind
from storage.db import transaction
from storage.models import AdviceRecord, AgreedAction, JournalEntry, PersonStatus, School, StaffRole
from tests.chat import Chat
from tests.test_reports import NOW, SETTINGS, TODAY, alumnus, destination, dispatcher, run_waymark

THIS_YEAR = datetime(2026, 10, 1, tzinfo=UTC)
LAST_YEAR = datetime(2026, 6, 1, tzinfo=UTC)


def fixture_school(engine: Engine) -> int:
    school = seed.school(engine, "Evidence Academy")
    assert school.id is not None
    tutor = seed.staff(engine, school.id)
    ana = seed.pupil(engine, school.id, "Ana", "One", year_group=11, send="K", next_step="College")
    bo = seed.pupil(engine, school.id, "Bo", "Two", year_group=11, pupil_premium=True, fsm=True)
    cy = seed.pupil(engine, school.id, "Cy", "Three", year_group=9, eal=True, looked_after=True)
    seed.pupil(engine, school.id, "Di", "Missing", year_group=11, status=PersonStatus.missing)
    seed.pupil(engine, school.id, "Ed", "Gone", year_group=11, status=PersonStatus.left)
    seed.link(engine, ana, "console", "ana")
    seed.link(engine, cy, "console", "cy")
    with transaction(engine) as session:
        assert tutor.id and ana.id and bo.id and cy.id
        session.add(AdviceRecord(pupil_id=ana.id, staff_id=tutor.id, kind="other", summary="s", created_at=THIS_YEAR))
        session.add(AdviceRecord(pupil_id=bo.id, staff_id=tutor.id, kind="other", summary="s", created_at=LAST_YEAR))
        session.add(AgreedAction(pupil_id=ana.id, text="apply", due_date=date(2026, 11, 1)))  # overdue
        session.add(AgreedAction(pupil_id=ana.id, text="visit", status="done"))
        session.add(AgreedAction(pupil_id=cy.id, text="read", due_date=date(2026, 12, 1)))  # open
        session.add(JournalEntry(person_id=cy.id, text="I liked it", created_at=THIS_YEAR))
        session.add(JournalEntry(person_id=ana.id, kind="encounter", text="a visit", created_at=THIS_YEAR))
        session.add(JournalEntry(person_id=bo.id, text="old", created_at=LAST_YEAR))
    oct25, oct26 = datetime(2025, 10, 5, tzinfo=UTC), datetime(2026, 10, 5, tzinfo=UTC)
    fay = alumnus(engine, school.id, "Fay", date(2025, 7, 18))  # year 2 in November 2026
    destination(engine, fay, 1, 230, "education", oct25)
    destination(engine, fay, 2, 240, "education", oct26)  # sustained
    gus = alumnus(engine, school.id, "Gus", date(2025, 7, 18))
    destination(engine, gus, 2, 619, "NEET", oct26)
    alumnus(engine, school.id, "Hal", date(2025, 7, 18))  # not known
    ivy = alumnus(engine, school.id, "Ivy", date(2026, 7, 17))  # year 1
    destination(engine, ivy, 1, 330, "employment", oct26)
    with transaction(engine) as session:
        assert fay.id and gus.id
        consents.record(session, fay.id, ConsentKind.help_pupils, True, THIS_YEAR)
        consents.record(session, gus.id, ConsentKind.help_pupils, True, LAST_YEAR)
        consents.record(session, gus.id, ConsentKind.help_pupils, False, THIS_YEAR)  # changed their mind
    return school.id


def evidence(engine: Engine, school_id: int) -> Evidence:
    with transaction(engine, write=False) as session:
        school = session.get(School, school_id)
        assert school is not None
        return build.benchmark3_evidence(session, school, SETTINGS, today=TODAY)


def table(found: Evidence, title: str) -> Table:
    return next(t for c in found.criteria for t in c.tables if t.title == title)


def cells(t: Table) -> list[tuple[str, int, tuple[int, ...]]]:
    return [(r.label, r.base, r.cells) for r in t.rows]


def test_evidence_figures_are_exact(engine: Engine) -> None:
    found = evidence(engine, fixture_school(engine))
    assert found.title == "Evidence Academy: Gatsby Benchmark 3 evidence, school year 2026-27"
    assert [c.name for c in found.criteria] == [
        "Records of advice and agreed decisions",
        "Pupils' access to their own records",
        "Three years of destinations",
        "Provision for targeted groups",
    ]
    # Guidance, actions, done, open, overdue, Year 10 up, next step. Di (missing) and Ed (left) are not on roll.
    assert cells(table(found, "Advice and agreed decisions by year group")) == [
        ("Year 9", 1, (0, 1, 0, 1, 0, 0, 0)),
        ("Year 11", 2, (1, 1, 1, 1, 1, 2, 1)),
    ]
    # Account linked, journal this year, employer encounter this year.
    assert cells(table(found, "Pupils' own records by year group")) == [
        ("Year 9", 1, (1, 1, 0)),
        ("Year 11", 2, (1, 0, 1)),
    ]
    assert cells(table(found, "SEN support beside everyone else on roll")) == [
        ("SEN support", 1, (1, 1, 1, 1, 1, 1, 1, 1, 0, 1)),
        ("Not SEN support", 2, (0, 1, 0, 1, 0, 1, 0, 1, 1, 0)),
    ]
    assert cells(table(found, "Looked after beside everyone else on roll"))[0] == (
        "Looked after",
        1,
        (0, 1, 0, 1, 0, 0, 0, 1, 1, 0),
    )
    # Known, not known, cannot be contacted, sustained, NEET, willing to help.
    assert cells(table(found, "Destinations of the last three leaving cohorts")) == [
        ("Leavers of 2026 (year 1)", 1, (1, 0, 0, 0, 0, 0)),
        ("Leavers of 2025 (year 2)", 3, (2, 1, 0, 1, 1, 1)),
        ("Leavers of 2024 (year 3)", 0, (0, 0, 0, 0, 0, 0)),
    ]
    sen = publish(table(found, "SEN support beside everyone else on roll"))
    assert gap(sen, 0) == Decimal(100)  # 100% beside 0%
    assert gap(sen, 1) == Decimal(50)  # 100% beside 50%


def test_evidence_page_html_names_the_criteria_and_hides_small_counts(engine: Engine) -> None:
    found = evidence(engine, fixture_school(engine))
    page = evidence_html(found)
    assert page.startswith("<!doctype html>") and "<th scope='col'>Guidance this year</th>" in page
    assert "<h2>Provision for targeted groups</h2>" in page and "Gap (points)" in page and "+100" in page
    shared = evidence_html(found, suppress_small=True)
    assert "<td>1<" not in shared and "<td>2<" not in shared and "<td>3<" not in shared
    assert "Counts from 1 to 4 are hidden" in shared


def school_on_file(tmp_path: Path, make: Callable[[Engine], int]) -> dict[str, str]:
    """A school made by `make` in a SQLite file, and the environment a `waymark` command needs to
    read it (none of the developer's own settings)."""
    from tests.conftest import sqlite_engine

    db = tmp_path / "b3.db"
    file_engine = sqlite_engine(db)
    make(file_engine)
    file_engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAYMARK_", "TELEGRAM_", "SLACK_"))}
    return env | {"WAYMARK_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_cli_writes_the_evidence_page(engine: Engine, tmp_path: Path) -> None:
    env = school_on_file(tmp_path, fixture_school)
    out = tmp_path / "b3.html"
    result = run_waymark(["report", "benchmark3", "--html", str(out), "--suppress-small"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "Provision for targeted groups" in result.stdout
    table_lines = [line for line in result.stdout.splitlines() if not line.startswith("Wrote ")]
    assert max(len(line) for line in table_lines) <= 80 and "…" not in result.stdout
    assert "Gatsby Benchmark 3 evidence" in out.read_text(encoding="utf-8")


def test_leader_gets_the_evidence_page_in_the_chat(engine: Engine) -> None:
    school_id = fixture_school(engine)
    leader = seed.staff(engine, school_id, "Lee", "Morgan", role=StaffRole.leader)
    seed.link(engine, leader, "console", "lee")
    replies = Chat(dispatcher(engine), "lee").say("/report benchmark3")
    page = next(r for r in replies if r.file_name.endswith("-evidence.html"))
    assert page.file is not None and b"Provision for targeted groups" in page.file
    assert page.file_type == "text/html"
    assert NOW.year == 2026


def test_dsl_gets_no_whole_school_report(engine: Engine) -> None:
    school_id = fixture_school(engine)
    dsl = seed.staff(engine, school_id, "Dee", "Safe", role=StaffRole.dsl)
    seed.link(engine, dsl, "console", "dee")
    chat = Chat(dispatcher(engine), "dee")
    for attempt in ("/report benchmark3 share", "/report destinations 2 send", "/report benchmark3"):
        replies = chat.say(attempt)
        assert all(r.image is None and r.file is None for r in replies)
        assert "Guidance" not in chat.text and "Education" not in chat.text


def test_at_risk_of_neet_in_sql_flags_the_pupils_the_python_rule_flags(engine: Engine) -> None:
    """The evidence page counts "at risk of NEET" in SQL (storage.reports.at_risk_of_neet); the caseload
    shows the flag from the pure rule (handlers.risk.assess). Over a school with every factor, for the
    default weights and random ones, before and after the spring term, both flag the same pupils."""
    import random
    from dataclasses import fields

    from handlers.pupils import risk_for
    from handlers.risk import DEFAULT_WEIGHTS, RiskWeights
    from storage import caseload, reports

    school_id = fixture_school(engine)
    leader = seed.staff(engine, school_id, "Lee", "Morgan", role=StaffRole.leader)
    extra: list[dict[str, object]] = [
        {"year_group": 13, "send": "E"},
        {"year_group": 13, "next_step": "Apprenticeship", "young_carer": True, "attendance": 85.5},
        {"year_group": 10, "attendance": 90.0, "exclusions": 2, "eal": True},
        {"year_group": 11, "attendance": 72.0, "looked_after": True, "send": "K"},
        {"year_group": 7, "pupil_premium": True, "young_carer": True, "exclusions": 1},
        {"year_group": 12, "next_step": "", "attendance": 99.0},
    ]
    for n, columns in enumerate(extra):
        seed.pupil(engine, school_id, f"Risk{n}", "Factor", **columns)  # type: ignore[arg-type]
    rng = random.Random(3)
    names = [f.name for f in fields(RiskWeights)]
    weight_sets = [DEFAULT_WEIGHTS] + [
        RiskWeights(
            **{
                name: (rng.choice([0.0, 80.0, 86.0, 90.0, 95.0]) if name == "attendance_below" else rng.randint(0, 3))
                for name in names
                if name != "threshold"
            },
            threshold=rng.randint(1, 6),
        )
        for _ in range(12)
    ]
    flagged_by_default = set()
    for today in (TODAY, date(2027, 2, 1)):  # before and after the spring term ("no next step" counts)
        year_start_at = datetime(2026, 8, 31, 23, tzinfo=UTC)  # 1 September, London
        with transaction(engine, write=False) as session:
            leader_row = session.get(type(leader), leader.id)
            assert leader_row is not None
            rows = caseload.page(
                session, leader_row, everyone=True, year_start_at=year_start_at, today=today, limit=100
            ).rows
            on_roll = [r for r in rows if r.pupil.status == PersonStatus.active]
            assert len(on_roll) == 3 + len(extra)
            for weights in weight_sets:
                python = {r.pupil.id for r in on_roll if risk_for(r, today, year_start_at, weights).flagged}
                sql = reports.at_risk_ids(session, school_id, weights, year_start_at=year_start_at, today=today)
                assert sql == python, (today, weights)
                if weights == DEFAULT_WEIGHTS:
                    flagged_by_default |= python
    assert 0 < len(flagged_by_default) < 3 + len(extra)  # the rule tells pupils apart
    # The evidence page's at-risk group is the pupils the rule flags today.
    at_risk = cells(table(evidence(engine, school_id), "At risk of NEET beside everyone else on roll"))
    with transaction(engine, write=False) as session:
        flagged_today = reports.at_risk_ids(
            session, school_id, DEFAULT_WEIGHTS, year_start_at=datetime(2026, 8, 31, 23, tzinfo=UTC), today=TODAY
        )
    assert at_risk[0][:2] == ("At risk of NEET", len(flagged_today))
    assert at_risk[1][1] == 3 + len(extra) - len(flagged_today)


def small_year9_school(engine: Engine) -> int:
    """Year 9 of 3 pupils and Year 11 of 9, six of them guided this year: the page hides Year 9's 3, and
    with the "Year 10 up" total (9) shown, hiding Year 11's 9 beside it is not enough, so "All" (12)
    is hidden too. A summary suppressed on its own showed that 12 (and 12 - 9 is Year 9's 3)."""
    school = seed.school(engine, "Together Academy")
    assert school.id is not None
    tutor = seed.staff(engine, school.id)
    for n in range(3):
        seed.pupil(engine, school.id, "Nine", f"P{n}", year_group=9)
    eleven = [seed.pupil(engine, school.id, "Eleven", f"P{n}", year_group=11) for n in range(9)]
    with transaction(engine) as session:
        for pupil in eleven[:6]:
            assert pupil.id and tutor.id
            session.add(
                AdviceRecord(pupil_id=pupil.id, staff_id=tutor.id, kind="other", summary="s", created_at=THIS_YEAR)
            )
    return school.id


def test_the_page_hides_all_pupils_in_the_fixture(engine: Engine) -> None:
    found = evidence(engine, small_year9_school(engine))
    records = publish(table(found, "Advice and agreed decisions by year group"), suppress_small=True)
    assert [r.base for r in records.rows] == [3, 9, 12]
    assert records.base(0) is None and records.base(2) is None  # Year 9's 3, and All 12
    whole = publish(year_groups(found), suppress_small=True)
    shown_summary = publish(summary(found), suppress_small=True)
    for shown in (whole, shown_summary):
        assert shown.base(0) is None and shown.base(2) is None
        for row in range(3):  # a base the page hides is hidden here; one it shows is shown
            assert (shown.base(row) is None) == (records.base(row) is None)


def test_cli_csv_hides_what_the_page_hides(engine: Engine, tmp_path: Path) -> None:
    env = school_on_file(tmp_path, small_year9_school)
    out = tmp_path / "b3.csv"
    result = run_waymark(["report", "benchmark3", "--csv", str(out), "--suppress-small"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    header, body = rows[0], {r[0]: r for r in rows[1:] if len(r) > 2}
    assert header[:2] == ["Year group", "Pupils"] and "Account linked" in header and "Year 10 up" in header
    assert body["Year 9"][1] == "x" and body["All"][1] == "x"  # shown as 12 by the old summary CSV
    assert body["Year 11"][header.index("Guidance this year")] == "6"
    assert "12" not in [cell for row in rows for cell in row]
    unsuppressed = run_waymark(["report", "benchmark3", "--csv", str(out)], tmp_path, env)
    assert unsuppressed.returncode == 0, unsuppressed.stderr
    plain = {r[0]: r for r in csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))) if len(r) > 2}
    assert plain["All"][1] == "12" and plain["Year 9"][1] == "3"


def test_chat_summary_chart_and_csv_hide_what_the_page_hides(engine: Engine) -> None:
    school_id = small_year9_school(engine)
    leader = seed.staff(engine, school_id, "Lee", "Morgan", role=StaffRole.leader)
    seed.link(engine, leader, "console", "lee")
    replies = Chat(dispatcher(engine), "lee").say("/report benchmark3 share")
    text = replies[0].text
    assert "Year 9: x pupils" in text and "All: x pupils" in text and "12" not in text
    assert "Guidance this year: 6" in text
    chart = next(r for r in replies if r.image is not None)
    assert "12" not in chart.image_alt
    sheet = next(r for r in replies if r.file is not None and r.file_name.endswith(".csv"))
    assert sheet.file is not None
    rows = {r[0]: r for r in csv.reader(io.StringIO(sheet.file.decode("utf-8-sig"))) if len(r) > 2}
    assert rows["All"][1] == "x" and rows["Year 9"][1] == "x"
    assert any(r.file_name.endswith("-evidence-to-share.html") for r in replies)  # the page, as the first test
