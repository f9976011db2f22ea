"""The yearly alumni campaign, run through three years (and a fourth) with time travel.

Decisions are the real functions the scheduler calls; alumni answer through `dispatch`; what was
"sent" is read from the outbox rows the decisions wrote.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import col, select

import handlers.alumni  # noqa: F401  (registers /destination and /stop)
from core import calendar
from core.settings import load_settings
from handlers import Dispatcher
from scheduler import campaign
from storage import checkins, consents, identities, outbox, seed
from storage.checkins import DueAlumnus, Reachable
from storage.consents import ConsentKind
from storage.db import transaction
from storage.models import Checkin, Destination, OutboxMessage, Person, StaffRole, utcnow
from tests.chat import Chat

LONDON = ZoneInfo("Europe/London")
SETTINGS = load_settings(database_url="sqlite://")
LEFT = date(2026, 7, 17)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)


def sent(engine: Engine) -> list[tuple[int, int, int]]:
    """(person, campaign year, attempt) of every check-in message queued."""
    with transaction(engine, write=False) as s:
        keys = s.exec(select(OutboxMessage.key).where(col(OutboxMessage.key).like("checkin:%"))).all()
    out = []
    for key in keys:
        _, person, year, attempt = key.split(":")
        out.append((int(person), int(year), int(attempt)))
    return out


def consent(engine: Engine, person: Person, granted: bool, channel: str | None) -> None:
    with transaction(engine) as s:
        assert person.id is not None
        consents.record(s, person.id, ConsentKind.yearly_checkin, granted, utcnow(), channel=channel)


# ---- pure rules ---------------------------------------------------------------------------------


def test_campaign_opens_on_the_first_working_day_of_october() -> None:
    assert calendar.campaign_opens(2026, SETTINGS.campaign) == date(2026, 10, 1)  # Thursday
    assert calendar.campaign_opens(2028, SETTINGS.campaign) == date(2028, 10, 2)  # 1 Oct 2028 is a Sunday
    custom = load_settings(database_url="sqlite://", campaign_start_month=12, campaign_start_day=25)
    assert calendar.campaign_opens(2026, custom.campaign) == date(2026, 12, 29)  # Christmas, Boxing Day, weekend...


def test_window_and_years_after_leaving() -> None:
    assert calendar.scheduled_campaign_year(date(2026, 9, 30), SETTINGS.campaign) is None
    assert calendar.scheduled_campaign_year(date(2026, 10, 1), SETTINGS.campaign) == 2026
    assert calendar.scheduled_campaign_year(date(2026, 11, 29), SETTINGS.campaign) == 2026  # 60-day window
    assert calendar.scheduled_campaign_year(date(2026, 11, 30), SETTINGS.campaign) is None
    assert calendar.run_now_campaign_year(date(2026, 8, 15), SETTINGS.campaign) == 2026  # brought forward
    assert calendar.run_now_campaign_year(date(2027, 3, 1), SETTINGS.campaign) == 2026
    assert calendar.years_after_leaving(LEFT, 2026, SETTINGS.campaign) == 1
    assert calendar.years_after_leaving(date(2026, 12, 18), 2027, SETTINGS.campaign) == 1  # left mid-year
    first, before = calendar.leaving_range(2029, SETTINGS.campaign)
    assert not first <= LEFT < before  # the fourth year is outside the range


def test_channel_is_the_consented_account_else_email_else_nobody() -> None:
    alum = DueAlumnus(1, 1, "S", "Ana", "ana@example.org", LEFT, "telegram")
    tg = Reachable("telegram", "42")
    assert campaign.choose_channel(alum, [tg]) == tg
    assert campaign.choose_channel(alum, []) == Reachable("email", "ana@example.org")
    no_email = DueAlumnus(1, 1, "S", "Ana", None, LEFT, "telegram")
    assert campaign.choose_channel(no_email, [Reachable("web", "w1")]) is None
    assert campaign.next_reminder_at(at(LEFT), 2, (7, 14)) is None


# ---- three years of campaigns -------------------------------------------------------------------


def test_a_cohort_through_three_years_and_a_fourth(engine: Engine) -> None:
    school = seed.school(engine)
    seed.staff(engine, school.id, "Lee", "Leader", role=StaffRole.leader)
    people = {
        name: seed.pupil(engine, school.id, name, "Alum", year_group=13, form="13A", leaving_date=LEFT, **extra)
        for name, extra in {
            "Ana": {},
            "Ben": {"email": "ben@example.org"},
            "Cal": {},
            "Dee": {},
            "Eve": {},
            "Fay": {},
        }.items()
    }
    ids = {name: p.id for name, p in people.items()}
    for name in ("Ana", "Dee", "Eve", "Fay"):
        seed.link(engine, people[name], "telegram", f"tg-{name}")
    consent(engine, people["Ana"], True, "telegram")
    consent(engine, people["Ben"], True, "email")
    consent(engine, people["Dee"], True, "telegram")
    consent(engine, people["Eve"], True, "telegram")
    consent(engine, people["Fay"], True, "telegram")
    consent(engine, people["Fay"], False, None)  # changed her mind: the latest answer holds
    with transaction(engine) as s:  # Eve blocked the bot; she gave no email
        identities.mark_unreachable(s, "telegram", "tg-Eve", "blocked", utcnow())

    dispatcher = Dispatcher(engine, SETTINGS)
    ana = Chat(dispatcher, "tg-Ana", "telegram")
    dee = Chat(dispatcher, "tg-Dee", "telegram")

    for year in (2026, 2027, 2028, 2029):
        opens = calendar.campaign_opens(year, SETTINGS.campaign)
        with time_machine.travel(at(opens), tick=False):
            first = campaign.run_checkins(engine, SETTINGS, utcnow())
            again = campaign.run_checkins(engine, SETTINGS, utcnow())  # a second scheduler / a restart
            assert again.sent == 0
        with time_machine.travel(at(opens) - timedelta(hours=1), tick=False):
            assert campaign.run_checkins(engine, SETTINGS, utcnow()).sent == 0  # clock went back
        if year == 2029:
            assert first.sent == 0, "nothing in the fourth year"
        for day in range(1, 21):
            with time_machine.travel(at(opens + timedelta(days=day)), tick=False):
                if day == 3 and year < 2029:  # no check-in in the fourth year, so nothing to answer
                    ana.press_data("/destination")
                    if year == 2026:
                        ana.press("Apprenticeship")
                        ana.say("Acme Engineering, Electrician")  # provider and course in one message
                    else:
                        ana.press("Same as last year")
                    assert "Saved" in ana.text
                if day == 2 and year == 2027:
                    dee.press_data("/stop")
                    dee.press("Yes, stop them")
                    assert "no more yearly messages" in dee.text
                campaign.run_reminders(engine, SETTINGS, utcnow())
                campaign.run_reminders(engine, SETTINGS, utcnow())

    messages = sent(engine)
    per_year = Counter((p, y) for p, y, a in messages if a == 0)
    assert all(n == 1 for n in per_year.values())
    assert {y for p, y in per_year if p == ids["Ana"]} == {2026, 2027, 2028}
    assert {y for p, y in per_year if p == ids["Ben"]} == {2026, 2027, 2028}
    assert {y for p, y in per_year if p == ids["Dee"]} == {2026, 2027}  # nothing after /stop
    for name in ("Cal", "Eve", "Fay"):
        assert not [m for m in messages if m[0] == ids[name]], name
    reminders = Counter((p, y) for p, y, a in messages if a > 0)
    assert max(reminders.values()) <= 2
    assert all(reminders[(ids["Ben"], y)] == 2 for y in (2026, 2027, 2028))  # never answered
    assert not [k for k in reminders if k[0] == ids["Ana"]]  # answered on day 3, before the first reminder
    assert reminders[(ids["Dee"], 2026)] == 2 and reminders[(ids["Dee"], 2027)] == 0
    assert {m[1] for m in messages} <= {2026, 2027, 2028}

    with transaction(engine, write=False) as s:
        eve = s.exec(select(Checkin).where(Checkin.person_id == ids["Eve"])).all()
        assert {c.status for c in eve} == {"unreachable"} and len(eve) == 3
        years = s.exec(
            select(Destination.year_after_leaving, Destination.nccis_code).where(Destination.person_id == ids["Ana"])
        ).all()
        assert sorted(years) == [(1, 310), (2, 310), (3, 310)]
        counts = {(c.campaign_year, c.cohort): c for c in checkins.status_counts(s)}
    c2027 = counts[(2027, 2026)]
    # No sender ran here: Ana's and Ben's check-ins are waiting, Dee's was withdrawn by /stop.
    assert (c2027.sent, c2027.waiting, c2027.answered, c2027.opted_out, c2027.unreachable) == (0, 2, 1, 1, 1)
    assert c2027.reminded == 1  # Ben


def test_two_schedulers_at_once_queue_each_check_in_once(engine: Engine) -> None:
    school = seed.school(engine)
    with transaction(engine) as s:
        for i in range(120):
            person = Person(
                school_id=school.id,
                role="alumnus",
                status="left",
                given_name=f"A{i}",
                family_name="B",
                leaving_date=LEFT,
                email=f"a{i}@example.org",
            )
            s.add(person)
            s.flush()
            assert person.id is not None
            consents.record(s, person.id, ConsentKind.yearly_checkin, True, utcnow(), channel="email")
    now = at(date(2026, 10, 1)).astimezone(ZoneInfo("UTC"))
    results: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            results.append(campaign.run_checkins(engine, SETTINGS, now, batch=7).sent)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(results) == 120
    assert Counter(sent(engine)) == Counter({(p, 2026, 0): 1 for p, _, _ in sent(engine)})
    assert len(sent(engine)) == 120


def test_no_consent_no_check_in_and_night_is_quiet(engine: Engine) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id, leaving_date=LEFT, email="x@example.org")
    night = at(date(2026, 10, 1), hour=23)
    assert campaign.run_checkins(engine, SETTINGS, night).graduated == 1
    assert sent(engine) == []
    consent(engine, pupil, True, "email")
    assert campaign.run_checkins(engine, SETTINGS, night).skipped == "night time at school"
    assert campaign.run_checkins(engine, SETTINGS, night, force=True).sent == 1  # run-now is the leader's call


@pytest.mark.parametrize("days", ["7,14", "3"])
def test_reminder_days_are_configurable(engine: Engine, days: str) -> None:
    settings = load_settings(database_url="sqlite://", campaign_reminder_days=days)
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id, leaving_date=LEFT, email="r@example.org")
    consent(engine, pupil, True, "email")
    opens = at(date(2026, 10, 1))
    campaign.run_checkins(engine, settings, opens)
    for day in range(1, 30):
        campaign.run_reminders(engine, settings, opens + timedelta(days=day))
    attempts = sorted(a for _, _, a in sent(engine))
    assert attempts == [0, *range(1, len(settings.reminder_days) + 1)]


def test_cli_run_now_and_status(engine: Engine) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    school = seed.school(engine)
    for name in ("Ana", "Ben", "Cal"):
        person = seed.pupil(engine, school.id, name, "Alum", leaving_date=LEFT, email=f"{name}@example.org")
        if name != "Cal":
            consent(engine, person, True, "email")
    env = {"WAYMARK_DATABASE_URL": engine.url.render_as_string(hide_password=False), "COLUMNS": "160"}
    runner = CliRunner()
    with time_machine.travel(at(date(2026, 8, 20)), tick=False):  # before October: run-now brings it forward
        before = runner.invoke(app, ["campaign", "status"], env=env)
        assert before.exit_code == 0, before.output
        assert "Campaign 2026: opens Thu 01 Oct 2026" in before.output
        ran = runner.invoke(app, ["campaign", "run-now"], env=env)
        assert ran.exit_code == 0, ran.output
        assert "2 check-ins queued" in ran.output
        again = runner.invoke(app, ["campaign", "run-now"], env=env)
        assert "0 check-ins queued" in again.output
        status = runner.invoke(app, ["campaign", "status"], env=env)
    assert status.exit_code == 0, status.output
    line = next(row for row in status.output.splitlines() if "2026" in row and "│" in row and "Campaign" not in row)
    cells = [c.strip() for c in line.split("│") if c.strip()]
    # Due, Waiting, Sent, Answered, Reminded, Opted out, Unreachable, Failed: queued, not sent yet.
    assert cells == ["2026", "2026", "0", "2", "0", "0", "0", "0", "0", "0"]


def test_cli_run_now_draws_its_progress_bar_on_a_terminal(engine: Engine) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    school = seed.school(engine)
    for i in range(7):
        person = seed.pupil(engine, school.id, f"P{i}", "Alum", leaving_date=LEFT, email=f"p{i}@example.org")
        consent(engine, person, True, "email")
    env = {
        "WAYMARK_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "COLUMNS": "100",
        "TTY_COMPATIBLE": "1",  # Rich draws live output only on a terminal: tell it this is one
        "TTY_INTERACTIVE": "1",
    }
    with time_machine.travel(at(date(2026, 10, 5)), tick=False):
        ran = CliRunner().invoke(app, ["campaign", "run-now"], env=env)
    assert ran.exit_code == 0, ran.output
    bar = [line for line in ran.output.replace("\r", "\n").splitlines() if "Campaign 2026" in line and "/7" in line]
    assert bar, ran.output
    assert "7/7" in bar[-1] and "━" in bar[-1]  # the finished bar: every due check-in counted
    assert "\x1b[" in ran.output  # drawn with terminal control codes, not printed as plain lines
    assert "7 check-ins queued" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", ran.output)


def test_status_counts_only_delivered_check_ins_as_sent_and_failed_reminders_as_failed(engine: Engine) -> None:
    school = seed.school(engine)
    names = ("Ana", "Ben", "Cal", "Dot", "Eli")
    people = {n: seed.pupil(engine, school.id, n, "Alum", leaving_date=LEFT, email=f"{n}@example.org") for n in names}
    for n in names[:4]:  # Eli gave consent but no address, so she is unreachable
        consent(engine, people[n], True, "email")
    with transaction(engine) as s:
        eli = s.get(Person, people["Eli"].id)
        assert eli is not None
        eli.email = None
        s.add(eli)
    consent(engine, people["Eli"], True, "email")
    opens = at(date(2026, 10, 1))
    campaign.run_checkins(engine, SETTINGS, opens)
    for day in (8, 15):
        campaign.run_reminders(engine, SETTINGS, opens + timedelta(days=day))
    ids = {n: p.id for n, p in people.items()}

    def row_id(person: str, attempt: int) -> int:
        with transaction(engine, write=False) as s:
            found = s.exec(
                select(OutboxMessage.id).where(OutboxMessage.key == campaign.message_key(ids[person], 2026, attempt))
            ).one()
            assert found is not None
            return found

    with transaction(engine) as s:  # what senders reported
        outbox.mark_sent(s, [row_id("Ana", 0), row_id("Ben", 0), row_id("Ben", 1)], utcnow())
        outbox.mark_failed(s, row_id("Ben", 2), error="gave up after 10 tries")  # a reminder failed
        outbox.mark_failed(s, row_id("Cal", 0), error="mail server said 554")  # the check-in itself failed
    with transaction(engine, write=False) as s:
        [row] = checkins.status_counts(s)
    # Sent: Ana and Ben only (Dot's is still waiting, Eli's was never sent). Failed: Ben's reminder, Cal's check-in.
    assert (row.sent, row.waiting, row.unreachable, row.failed, row.reminded) == (2, 1, 1, 2, 4)
