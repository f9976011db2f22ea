"""Quiet hours, pupils' day-before nudges and tutors' weekly digests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import col, select

from core.calendar import parse_school_holidays
from core.settings import load_settings
from scheduler.reminders import next_school_day, quiet, run_action_nudges, run_digests
from storage import seed
from storage.db import transaction
from storage.models import AdviceRecord, AgreedAction, OutboxMessage, School

LONDON = ZoneInfo("Europe/London")
SETTINGS = load_settings(database_url="sqlite://")
HALF_TERM = parse_school_holidays("2026-10-26..2026-10-30\n")


def at(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=LONDON)


# ---- quiet hours, pure ----------------------------------------------------------------------------


def test_quiet_from_nine_at_night() -> None:
    assert not quiet(at(2026, 10, 13, 20, 59), LONDON)  # a Tuesday
    assert quiet(at(2026, 10, 13, 21, 0), LONDON)


def test_quiet_until_half_past_seven() -> None:
    assert quiet(at(2026, 10, 13, 7, 29), LONDON)
    assert not quiet(at(2026, 10, 13, 7, 30), LONDON)


def test_quiet_is_school_time_whatever_the_server_zone() -> None:
    utc_evening = datetime(2026, 7, 14, 20, 30, tzinfo=ZoneInfo("UTC"))  # 21:30 in London (BST)
    assert quiet(utc_evening, LONDON)


def test_quiet_at_weekends() -> None:
    assert quiet(at(2026, 10, 17, 12), LONDON)  # Saturday
    assert quiet(at(2026, 10, 18, 12), LONDON)  # Sunday


def test_quiet_on_a_bank_holiday() -> None:
    assert quiet(at(2026, 8, 31, 12), LONDON)  # Late Summer Bank Holiday, a Monday
    assert quiet(at(2026, 12, 28, 12), LONDON)  # Boxing Day (substitute day)


def test_quiet_in_a_school_holiday() -> None:
    assert quiet(at(2026, 10, 27, 12), LONDON, HALF_TERM)
    assert not quiet(at(2026, 10, 27, 12), LONDON)
    assert not quiet(at(2026, 11, 2, 12), LONDON, HALF_TERM)


def test_school_holiday_lines_are_forgiving() -> None:
    ranges = parse_school_holidays("2026-12-21..2027-01-01\n# comment\nnot a date\n2027-02-15\n2027-03-01..2027-02-01")
    assert ranges == [(date(2026, 12, 21), date(2027, 1, 1)), (date(2027, 2, 15), date(2027, 2, 15))]
    assert next_school_day(date(2026, 10, 23), HALF_TERM) == date(2026, 11, 2)


# ---- nudges --------------------------------------------------------------------------------------


def _action(engine: Engine, pupil_id: int, due: date, text: str = "Send the college application") -> int:
    with transaction(engine) as s:
        row = AgreedAction(pupil_id=pupil_id, text=text, due_date=due)
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def _queued(engine: Engine, prefix: str) -> list[OutboxMessage]:
    with transaction(engine, write=False) as s:
        return list(s.exec(select(OutboxMessage).where(col(OutboxMessage.key).like(f"{prefix}%"))).all())


def _linked_pupil(engine: Engine, school_id: int) -> int:
    """A pupil with her web chat linked as "w-amira", so nudges have somewhere to go; her id."""
    amira = seed.pupil(engine, school_id)
    seed.link(engine, amira, "web", "w-amira")
    assert amira.id is not None
    return amira.id


def test_pupil_is_nudged_the_day_before_once(engine: Engine) -> None:
    amira_id = _linked_pupil(engine, seed.school(engine).id)
    action = _action(engine, amira_id, date(2026, 10, 15))  # a Thursday
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 13)) == 0  # two days before
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 14, 22)) == 0  # the evening before: quiet
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 14)) == 1
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 14, 15)) == 0  # already nudged
    [row] = _queued(engine, "nudge:")
    assert row.key == f"nudge:{action}:2026-10-15:web:w-amira"
    assert "Send the college application" in row.text and row.chat_id == "w-amira"


def test_monday_deadline_is_nudged_on_friday_and_done_actions_are_not(engine: Engine) -> None:
    amira_id = _linked_pupil(engine, seed.school(engine).id)
    _action(engine, amira_id, date(2026, 10, 19))  # Monday
    done = _action(engine, amira_id, date(2026, 10, 19), "Done already")
    with transaction(engine) as s:
        row = s.get(AgreedAction, done)
        assert row is not None
        row.status = "done"
        s.add(row)
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 16)) == 1  # Friday
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 18, 12)) == 0  # Sunday: quiet and already sent
    assert [r.text for r in _queued(engine, "nudge:") if "Done already" in r.text] == []


def test_quiet_hours_can_be_switched_off(engine: Engine) -> None:
    amira_id = _linked_pupil(engine, seed.school(engine).id)
    _action(engine, amira_id, date(2026, 10, 18))  # Sunday
    loud = load_settings(database_url="sqlite://", quiet_hours=False)
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 17, 23)) == 0
    assert run_action_nudges(engine, loud, at(2026, 10, 17, 23)) == 1


def test_no_nudges_in_the_school_holidays(engine: Engine) -> None:
    school = seed.school(engine)
    with transaction(engine) as s:
        row = s.get(School, school.id)
        assert row is not None
        row.holidays = "2026-10-26..2026-10-30"
        s.add(row)
    amira_id = _linked_pupil(engine, school.id)
    _action(engine, amira_id, date(2026, 10, 28))
    _action(engine, amira_id, date(2026, 11, 2), "After half term")
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 27)) == 0
    # Friday 23rd is the last school day before both deadlines, so both are nudged then.
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 23)) == 2
    assert any("After half term" in row.text for row in _queued(engine, "nudge:"))


# ---- weekly digest -------------------------------------------------------------------------------


def test_tutor_gets_one_weekly_digest_of_pupils_needing_them(engine: Engine) -> None:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Tom", "Tutor")
    other = seed.staff(engine, school.id, "Olu", "Other")
    seed.link(engine, tutor, "slack", "U-TOM")
    assert tutor.id is not None and other.id is not None
    overdue = seed.pupil(engine, school.id, "Amira", "Khan", tutor_id=tutor.id)
    talked = seed.pupil(engine, school.id, "Ben", "Jones", tutor_id=tutor.id)
    silent = seed.pupil(engine, school.id, "Cara", "Lee", tutor_id=tutor.id)
    elsewhere = seed.pupil(engine, school.id, "Dan", "Moss", tutor_id=other.id)
    monday = at(2026, 10, 12, 8)
    with transaction(engine) as s:
        for pupil in (overdue, talked, elsewhere):
            assert pupil.id is not None
            s.add(
                AdviceRecord(
                    pupil_id=pupil.id,
                    staff_id=tutor.id,
                    kind="tutor_checkin",
                    summary="Chat",
                    created_at=monday - timedelta(weeks=2),
                )
            )
        assert overdue.id is not None
        s.add(AgreedAction(pupil_id=overdue.id, text="Book work experience", due_date=date(2026, 10, 1)))
    assert run_digests(engine, SETTINGS, at(2026, 10, 11, 12)) == 0  # Sunday: quiet
    assert run_digests(engine, SETTINGS, monday) == 1
    assert run_digests(engine, SETTINGS, monday + timedelta(days=2)) == 0  # once a week
    [digest] = _queued(engine, "digest:")
    assert digest.key == f"digest:{tutor.id}:2026-W42:slack:U-TOM"
    assert "Amira Khan (11A): 1 overdue" in digest.text
    assert "Cara Lee (11A): none yet" in digest.text
    assert "Ben Jones" not in digest.text and "Dan Moss" not in digest.text
    assert run_digests(engine, SETTINGS, monday + timedelta(days=7)) == 1  # next week's
    assert silent.id is not None


def test_a_nudge_names_the_day_it_is_due(engine: Engine) -> None:
    amira_id = _linked_pupil(engine, seed.school(engine).id)
    _action(engine, amira_id, date(2026, 10, 19), "Monday's deadline")  # nudged on Friday the 16th
    _action(engine, amira_id, date(2026, 10, 22), "Thursday's deadline")  # nudged on Wednesday the 21st
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 16)) == 1
    assert run_action_nudges(engine, SETTINGS, at(2026, 10, 21)) == 1
    texts = {row.text.splitlines()[1]: row.text.splitlines()[0] for row in _queued(engine, "nudge:")}
    assert texts["Monday's deadline"] == "A reminder: you agreed to do this, and it's due on Monday 19 Oct:"
    assert "tomorrow" not in texts["Monday's deadline"]
    assert texts["Thursday's deadline"] == "A reminder: you agreed to do this, and it's due tomorrow (Thu 22 Oct):"
