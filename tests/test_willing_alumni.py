"""Alumni who can help: only those whose latest answer is yes, by sector, channels named but never handles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import col, select

from handlers import Dispatcher
from reports.alumni import by_sector, render_lines
from storage import consents, seed
from storage.consents import ConsentKind
from storage.db import transaction
from storage.models import AuditEvent
from storage.willing_alumni import HELP_LIST, record_shown, willing_alumni
from tests.chat import Chat
from tests.test_equality import add_destination
from tests.test_refine import leader_and_tutor, run_waymark

AT = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)


def _school(engine: Engine) -> int:
    school = seed.school(engine, "Helpful Academy")
    assert school.id is not None
    # (given, answers to "would you help?", category, course, provider, telegram id, email)
    for given, answers, category, course, provider, telegram, email in [
        ("Amy", [True], "University (higher education)", "BSc Nursing", "University of Leeds", "111", None),
        ("Ben", [True], "apprenticeship", "Electrician", "Sparks Ltd", None, "ben@example.org"),  # an LA import: key
        ("Cat", [True, False], "university", "Law", "York", "333", None),  # changed her mind: not listed
        ("Dev", [False], "fe_college", "Plumbing", "Town College", None, None),
        ("Eve", [True], "", "", "", None, None),  # no destination yet, no channel
    ]:
        person = seed.alumnus(engine, school.id, given, "Old", leaving_date=date(2024, 7, 19), email=email)
        assert person.id is not None
        if telegram:
            seed.link(engine, person, "telegram", telegram)
        with transaction(engine) as session:
            for granted in answers:
                consents.record(session, person.id, ConsentKind.help_pupils, granted, AT)
        if category:
            code = 310 if category == "apprenticeship" else 240
            add_destination(
                engine, person.id, code, "education", AT, category=category, course=course, provider=provider
            )
    return school.id


def test_willing_alumni_by_sector_with_channels_not_handles(engine: Engine) -> None:
    school_id = _school(engine)
    with transaction(engine) as session:
        shown = willing_alumni(session, school_id)
        record_shown(session, school_id, shown, actor_id=None, now=AT)
    assert [a.name for a in shown] == ["Amy Old", "Ben Old", "Eve Old"]
    lines = render_lines(by_sector(shown), "Helpful Academy")
    assert lines[:8] == [
        "Helpful Academy: Alumni who would help current pupils",
        "",
        "Health and care (1)",
        "- Amy Old (left 2024): University (higher education): BSc Nursing, University of Leeds. Reach: Telegram",
        "",
        "Construction and trades (1)",
        "- Ben Old (left 2024): Apprenticeship: Electrician, Sparks Ltd. Reach: email",
        "",
    ]
    assert "- Eve Old (left 2024): Not reported. Reach: no channel: not reachable through Waymark" in lines
    text = "\n".join(lines)
    assert "111" not in text and "ben@example.org" not in text
    with transaction(engine, write=False) as session:
        audited = session.exec(select(AuditEvent.subject_id).where(col(AuditEvent.detail) == HELP_LIST)).all()
    assert sorted(audited) == sorted(a.person_id for a in shown)


def test_cli_report_alumni(tmp_path: Path) -> None:
    from tests.conftest import sqlite_engine

    db = tmp_path / "cli.db"
    engine = sqlite_engine(db)
    _school(engine)
    engine.dispose()
    out = {kind: tmp_path / f"alumni.{kind}" for kind in ("csv", "xlsx", "html")}
    files = [arg for kind, path in out.items() for arg in (f"--{kind}", str(path))]
    result = run_waymark(db, "report", "alumni", *files, columns=80)
    assert result.returncode == 0, result.stderr
    tables = [line for line in result.stdout.splitlines() if not line.startswith("Wrote the ")]
    assert "Helpful Academy: Alumni who would help current pupils" in result.stdout
    assert "Construction   Ben Old        2024   Apprenticeship:" in result.stdout and "Cat Old" not in result.stdout
    assert max(len(line) for line in tables) <= 80 and "…" not in result.stdout
    rows = list(csv.reader(io.StringIO(out["csv"].read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Sector", "Name", "Left", "Doing now", "Reach"]
    assert rows[1:3] == [
        [
            "Health and care",
            "Amy Old",
            "2024",
            "University (higher education): BSc Nursing, University of Leeds",
            "Telegram",
        ],
        ["Construction and trades", "Ben Old", "2024", "Apprenticeship: Electrician, Sparks Ltd", "email"],
    ]
    assert len(rows) == 4  # Amy, Ben, Eve
    sheet = load_workbook(out["xlsx"]).worksheets[0]
    assert sheet["A1"].value == "Helpful Academy: Alumni who would help current pupils" and sheet.freeze_panes == "A3"
    assert [c.value for c in sheet[2]] == rows[0] and [c.value for c in sheet[4]][:2] == [
        "Construction and trades",
        "Ben Old",
    ]
    page = out["html"].read_text(encoding="utf-8")
    assert "<title>Helpful Academy: Alumni who would help current pupils</title>" in page
    assert "<th scope='col'>Doing now</th>" in page and "Staff only" in page and "111" not in page.split("</style>")[1]


def test_leader_sees_willing_alumni_in_report_and_others_do_not(engine: Engine, dispatcher: Dispatcher) -> None:
    school_id = _school(engine)
    leader = leader_and_tutor(engine, school_id)
    chat = Chat(dispatcher, "lee")
    chat.say("/report")
    chat.press("Alumni who can help")
    assert "Helpful Academy: Alumni who would help current pupils" in chat.text
    assert "- Ben Old (left 2024): Apprenticeship: Electrician, Sparks Ltd. Reach: email" in chat.text
    assert "Cat Old" not in chat.text and "ben@example.org" not in chat.text
    sheet = chat.last[-1]
    assert sheet.file_name == "alumni-who-can-help.csv" and sheet.file is not None
    assert sheet.file.decode("utf-8-sig").splitlines()[0] == "Sector,Name,Left,Doing now,Reach"
    assert b"Amy Old" in sheet.file and b"111" not in sheet.file
    with transaction(engine, write=False) as session:
        actors = session.exec(select(AuditEvent.actor_id).where(col(AuditEvent.detail) == HELP_LIST)).all()
    assert actors == [leader.id] * 3
    other = Chat(dispatcher, "sam")
    other.say("/report alumni")
    assert "isn't something you can do here" in other.text and "Amy" not in other.text
