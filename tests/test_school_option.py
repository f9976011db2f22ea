"""With two schools in one database: `waymark campaign --school` and `waymark report` reach only the
school asked for (by --school, or for reports by WAYMARK_SCHOOL_NAME)."""

from __future__ import annotations

import time_machine
from sqlalchemy import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli import app
from storage import seed
from storage.db import transaction
from storage.models import Checkin, Person
from tests.test_campaign import LEFT, at, consent


def _two_schools(engine: Engine) -> dict[str, str]:
    for school_name, alumni in (("North Academy", ("Ana", "Ben")), ("South School", ("Cal",))):
        school = seed.school(engine, school_name)
        for given in alumni:
            person = seed.pupil(engine, school.id, given, "Alum", leaving_date=LEFT, email=f"{given}@example.org")
            consent(engine, person, True, "email")
    return {"WAYMARK_DATABASE_URL": engine.url.render_as_string(hide_password=False), "COLUMNS": "160"}


def test_campaign_run_now_and_status_for_one_school(sqlite_only: Engine) -> None:
    env = _two_schools(sqlite_only)
    runner = CliRunner()
    with time_machine.travel(at(LEFT.replace(month=10, day=5)), tick=False):
        ran = runner.invoke(app, ["campaign", "run-now", "--school", "south school"], env=env)
        assert ran.exit_code == 0, ran.output
        assert "1 check-ins queued" in ran.output
        status = runner.invoke(app, ["campaign", "status", "--school", "North Academy"], env=env)
        unknown = runner.invoke(app, ["campaign", "status", "--school", "Nowhere High"], env=env)
    with transaction(sqlite_only, write=False) as s:
        asked = s.exec(select(Person.given_name).join(Checkin, col(Checkin.person_id) == col(Person.id))).all()
    assert asked == ["Cal"]  # North's alumni were not messaged
    line = next(row for row in status.output.splitlines() if "│" in row and "Campaign" not in row)
    assert [c.strip() for c in line.split("│") if c.strip()][:4] == ["2026", "2026", "2", "0"]  # North: 2 still due
    assert unknown.exit_code == 1 and "No school called 'Nowhere High'" in unknown.output


def test_report_with_two_schools_uses_waymark_school_name(sqlite_only: Engine) -> None:
    env = _two_schools(sqlite_only)
    runner = CliRunner()
    named = runner.invoke(app, ["report", "benchmark3"], env={**env, "WAYMARK_SCHOOL_NAME": "South School"})
    assert named.exit_code == 0, named.output
    unnamed = runner.invoke(app, ["report", "benchmark3"], env={**env, "WAYMARK_SCHOOL_NAME": "Nowhere High"})
    assert unnamed.exit_code == 1 and "name one with --school" in unnamed.output
