"""The destination that counts (`latest`) and "sustained" (`held`), kept at write time by every writer,
and the set-based marking of the migration and bulk loads agreeing with the per-alumnus one."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, update
from sqlmodel import col, select

from storage import seed
from storage.alumni import NewDestination, save_destination
from storage.db import transaction
from storage.destination_marks import Reported, mark_all, marks
from storage.models import Destination, Person, PersonStatus, Role
from storage.nccis import LaActivity, record_la
from storage.refine import refine

T0 = datetime(2025, 10, 5, tzinfo=UTC)
T1 = datetime(2024, 10, 5, tzinfo=UTC)  # year 1 of a July 2024 leaver


def test_marks_pick_the_latest_report_per_year_and_the_sustained_ones() -> None:
    later = T0 + timedelta(days=30)
    rows = [
        Reported(1, 1, "education", T0),
        Reported(2, 1, "employment", later),  # refined later: counts for year 1
        Reported(3, 2, "employment", T0 + timedelta(days=365)),  # same group as year 1's latest: sustained
        Reported(4, 3, "NEET", T0 + timedelta(days=730)),  # NEET is never sustained
        Reported(5, 4, "NEET", T0 + timedelta(days=1095)),
        Reported(7, 5, "training", T0),
        Reported(6, 5, "other", T0),  # same time: the higher id counts
    ]
    assert marks(rows) == (frozenset({2, 3, 4, 5, 7}), frozenset({3}))
    assert marks([Reported(1, 1, "education", T0)]) == (frozenset({1}), frozenset())  # year 1: nothing before


def _marked(engine: Engine, person_id: int) -> list[tuple[int, int, bool, bool]]:
    with transaction(engine, write=False) as session:
        found = session.exec(
            select(Destination).where(col(Destination.person_id) == person_id).order_by(col(Destination.id))
        ).all()
        return [(d.year_after_leaving, d.nccis_code, d.latest, d.held) for d in found]


def test_every_writer_marks_the_row_that_counts(engine: Engine) -> None:
    school = seed.school(engine, "Marks Academy")
    assert school.id is not None
    alumnus = seed.alumnus(engine, school.id, "Mo", "Marks", leaving_date=date(2024, 7, 19), upn="M00000000001")
    staff = seed.staff(engine, school.id)
    assert alumnus.id is not None
    with transaction(engine) as session:  # the alumnus's own answers (check-ins)
        save_destination(session, alumnus.id, NewDestination(1, "Job", 330, "employment"), T1)
        save_destination(session, alumnus.id, NewDestination(2, "Job", 330, "employment"), T1 + timedelta(days=365))
        row = save_destination(
            session, alumnus.id, NewDestination(3, "Not working", 680, "NEET"), T1 + timedelta(days=730)
        )
        assert row.latest  # read back in the same session: the hook expired the stale value
    assert _marked(engine, alumnus.id) == [(1, 330, True, False), (2, 330, True, True), (3, 680, True, False)]
    with transaction(engine) as session:  # staff refine year 3
        person = session.get(Person, alumnus.id)
        assert person is not None
        refine(session, person, 3, 620, now=T1 + timedelta(days=740), actor_id=staff.id)
    assert _marked(engine, alumnus.id)[2:] == [(3, 680, False, False), (3, 620, True, False)]
    with transaction(engine) as session:  # the local authority says year 1 was training: year 2 no longer sustained
        added, unknown = record_la(
            session, school.id, [LaActivity("M00000000001", 430, "Skills Ltd", date(2025, 3, 1))], T1
        )
        assert (added, unknown) == (1, [])
    assert _marked(engine, alumnus.id) == [
        (1, 330, False, False),
        (2, 330, True, False),
        (3, 680, False, False),
        (3, 620, True, False),
        (1, 430, True, False),
    ]
    with transaction(engine) as session:  # an answer changed in place
        save_destination(session, alumnus.id, NewDestination(1, "Job", 330, "employment"), T1 + timedelta(days=200))
    assert [m[2:] for m in _marked(engine, alumnus.id)] == [
        (True, False),
        (True, True),
        (False, False),
        (True, False),
        (False, False),
    ]


def test_marking_everything_at_once_agrees_with_marking_each_alumnus(engine: Engine) -> None:
    """`mark_all` (migration, bulk loads) and the session hook give every row the same marks."""
    school = seed.school(engine, "Bulk Academy")
    assert school.id is not None
    rng = random.Random(11)
    groups = ["education", "employment", "training", "NEET", "not known", "other"]
    with transaction(engine) as session:
        people = [
            Person(school_id=school.id, role=Role.alumnus, status=PersonStatus.left, given_name="B", family_name=str(n))
            for n in range(25)
        ]
        session.add_all(people)
        session.flush()
        for person in people:
            for _ in range(rng.randint(0, 6)):
                session.add(
                    Destination(
                        person_id=person.id,
                        year_after_leaving=rng.randint(1, 3),
                        category="x",
                        nccis_code=100,
                        group=rng.choice(groups),
                        reported_at=T0 + timedelta(days=rng.choice([0, 0, 1, 2])),  # ties on purpose
                    )
                )
    by_hook = _all_marks(engine)
    assert any(latest for latest, _ in by_hook.values()) and any(held for _, held in by_hook.values())
    with engine.begin() as connection:
        table = Destination.__table__  # type: ignore[attr-defined]
        connection.execute(update(table).values(latest=True, held=True))  # wrong everywhere
        mark_all(connection)
    assert _all_marks(engine) == by_hook
    with engine.begin() as connection:  # a bulk insert bypasses the hook until marked
        connection.execute(
            insert(table),
            [
                {
                    "person_id": people[0].id,
                    "year_after_leaving": 1,
                    "category": "x",
                    "nccis_code": 1,
                    "group": "other",
                    "reported_at": T0 + timedelta(days=9),
                }
            ],
        )
        mark_all(connection)
    with transaction(engine, write=False) as session:
        year_one = session.exec(
            select(Destination).where(
                col(Destination.person_id) == people[0].id, col(Destination.year_after_leaving) == 1
            )
        ).all()
    assert [d.nccis_code for d in year_one if d.latest] == [1]


def _all_marks(engine: Engine) -> dict[int, tuple[bool, bool]]:
    with transaction(engine, write=False) as session:
        return {d.id or 0: (d.latest, d.held) for d in session.exec(select(Destination)).all()}


def test_cli_without_by_prints_every_breakdown_from_one_query(tmp_path: Path) -> None:
    """`waymark report destinations` with no --by: every breakdown's table, the same counts as each
    --by gives (build.destinations_by against build.destinations), and the workbook a sheet each."""
    import os
    import zipfile

    from core.settings import load_settings
    from reports import build
    from storage.models import School
    from storage.reports import Breakdown
    from tests.conftest import sqlite_engine
    from tests.test_reports import run_waymark, seed_alumni

    db = tmp_path / "all.db"
    engine = sqlite_engine(db)
    school = seed.school(engine, "All Academy")
    assert school.id is not None
    seed_alumni(engine, school.id)
    settings = load_settings(database_url="sqlite://", timezone="Europe/London")
    with transaction(engine, write=False) as session:
        row = session.get(School, school.id)
        assert row is not None
        for year in (1, 2):
            together = build.destinations_by(session, row, settings, today=date(2026, 11, 16), year_after_leaving=year)
            one_by_one = [
                build.destinations(session, row, settings, today=date(2026, 11, 16), year_after_leaving=year, by=b)
                for b in Breakdown
            ]
            assert together == one_by_one and any(t.rows for t in together)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAYMARK_", "TELEGRAM_", "SLACK_"))}
    env |= {"WAYMARK_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = tmp_path / "all.xlsx"
    result = run_waymark(["report", "destinations", "--year-after", "1", "--xlsx", str(out)], tmp_path, env)
    assert result.returncode == 0, result.stderr
    for words in ("by gender", "by ethnicity", "by SEND", "by pupil premium", "by free school meals", "by EAL"):
        assert words in " ".join(result.stdout.split()), words
    with zipfile.ZipFile(out) as book:
        assert len([n for n in book.namelist() if n.startswith("xl/worksheets/sheet")]) == len(Breakdown)
    one = run_waymark(["report", "destinations", "--csv", str(tmp_path / "x.csv")], tmp_path, env)
    assert one.returncode == 0, one.stderr  # a CSV holds one breakdown: gender, as before --by was optional
    assert "by gender" in " ".join(one.stdout.split()) and "by ethnicity" not in " ".join(one.stdout.split())
