"""Staff refine an alumnus's NCCIS code: the finer code counts, the alumnus's answer stays, it is audited."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from handlers import Dispatcher
from reports import build
from storage import seed
from storage.db import transaction
from storage.models import AuditEvent, Destination, Person, School, StaffRole
from storage.refine import REFINE_DESTINATION, Refused, latest_for_year, refine
from storage.reports import Breakdown
from tests.chat import Chat
from tests.test_reports import SETTINGS, WAYMARK, destination

ANSWERED = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
REFINED = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)


def _alumnus_not_working(engine: Engine, upn: str = "A123456789012") -> tuple[int, Person]:
    school = seed.school(engine, "Refine Academy")
    assert school.id is not None
    person = seed.alumnus(engine, school.id, "Kai", "Moss", upn=upn, gender="M", leaving_date=date(2025, 7, 18))
    destination(engine, person, 1, 680, "NEET", ANSWERED)
    return school.id, person


def run_waymark(db: Path, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    """The console script on a SQLite file, with none of the developer's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAYMARK_", "TELEGRAM_", "SLACK_"))}
    env |= {"WAYMARK_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env["COLUMNS"] = str(columns)
    return subprocess.run([*WAYMARK, *args], cwd=db.parent, env=env, capture_output=True, text=True, timeout=60)


def leader_and_tutor(engine: Engine, school_id: int) -> Person:
    """A careers leader on chat account "lee" and a tutor on "sam"; the leader is returned."""
    leader = seed.staff(engine, school_id, "Lee", "Morgan", role=StaffRole.leader)
    seed.link(engine, leader, "console", "lee")
    seed.link(engine, seed.staff(engine, school_id, "Sam", "Patel"), "console", "sam")
    return leader


def test_refined_code_counts_and_the_alumnus_answer_is_kept(engine: Engine) -> None:
    school_id, person = _alumnus_not_working(engine)
    with transaction(engine) as session:
        assert isinstance(refine(session, person, 1, 310, now=REFINED, actor_id=None), Refused)  # not the same kind
        assert isinstance(refine(session, person, 2, 640, now=REFINED, actor_id=None), Refused)  # no year 2
        done = refine(session, person, 1, 640, now=REFINED, actor_id=None)
        assert isinstance(done, Destination) and done.source == "staff" and done.group == "NEET"
    with transaction(engine, write=False) as session:
        rows = session.exec(select(Destination).order_by(col(Destination.id))).all()
        assert [(r.nccis_code, r.source) for r in rows] == [(680, "alumnus"), (640, "staff")]
        events = session.exec(select(AuditEvent).where(col(AuditEvent.action) == REFINE_DESTINATION)).all()
        assert [(e.subject_id, e.detail) for e in events] == [(person.id, "year 1: 680 to 640")]
        school = session.get(School, school_id)
        assert school is not None
        table = build.destinations(
            session, school, SETTINGS, today=date(2026, 11, 16), year_after_leaving=1, by=Breakdown.gender
        )
        assert table.rows[0].cells[table.columns.index("NEET")] == 1


def test_refusal_reasons_name_the_allowed_codes() -> None:
    from storage.refine import refusal

    answer = Destination(person_id=1, year_after_leaving=1, category="not_working", nccis_code=680, group="NEET")
    assert refusal(answer, 310) == (
        "310 is not a code for 'not working or studying right now'; choose one of 610, 620, 630, 640, 650, 660, 670, 680."
    )
    assert refusal(answer, 680) == "The destination already has the code 680."
    assert refusal(None, 640) is not None and refusal(answer, 610) is None


def test_cli_destination_refine(tmp_path: Path) -> None:
    from tests.conftest import sqlite_engine

    db = tmp_path / "cli.db"
    engine = sqlite_engine(db)
    _alumnus_not_working(engine, "B123456789012")
    engine.dispose()

    def waymark(*args: str) -> subprocess.CompletedProcess[str]:
        return run_waymark(db, *args)

    done = waymark("destination", "refine", "B123456789012", "1", "640")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Year 1 after leaving is now NCCIS 640 (illness) for B123456789012."
    wrong = waymark("destination", "refine", "B123456789012", "1", "240")
    assert wrong.returncode == 1 and "Not changed: 240 is not a code for" in wrong.stderr
    nobody = waymark("destination", "refine", "Z999", "1", "640")
    assert nobody.returncode == 1 and "Nobody has the UPN" in nobody.stderr


def test_leader_refines_from_the_former_pupils_record_in_the_chat(engine: Engine, dispatcher: Dispatcher) -> None:
    school_id, person = _alumnus_not_working(engine)
    leader = leader_and_tutor(engine, school_id)
    chat = Chat(dispatcher, "lee")
    chat.say("/pupil Kai")
    chat.press("Kai Moss (former pupil, left 2025)")
    chat.press("Refine year 1 code (680)")
    assert "NCCIS 680. Which is it?" in chat.text and "640: illness" in chat.buttons()
    chat.press("640: illness")
    assert "is now NCCIS 640 (illness). Their own answer is kept." in chat.text
    with transaction(engine, write=False) as session:
        current = latest_for_year(session, person.id or 0, 1)
        assert current is not None and (current.nccis_code, current.source) == (640, "staff")
        [event] = session.exec(select(AuditEvent).where(col(AuditEvent.action) == REFINE_DESTINATION)).all()
        assert event.actor_id == leader.id
    chat.press_data(f"/refine #{person.id} 1 310")  # a forged button: refused in words, nothing changed
    assert "Not changed: 310 is not a code for" in chat.text
    other = Chat(dispatcher, "sam")
    other.say(f"/refine #{person.id} 1 620")
    assert "Refining destination codes is for the careers leader" in other.text or "isn't something" in other.text
    with transaction(engine, write=False) as session:
        assert len(session.exec(select(Destination)).all()) == 2
