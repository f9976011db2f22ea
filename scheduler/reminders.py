"""Pupils' day-before nudges, tutors' weekly digests, and the quiet hours both respect.

Quiet hours (school time): nothing to pupils from 21:00 to 07:30, at weekends, on England's bank
holidays, or in the holidays the school sets (`School.holidays`), unless WAYMARK_QUIET_HOURS=false.
Digests are decided in the same hours, so they come on the first school day of the week. The
sender checks again when it sends (scheduler.quiet), for a row queued just before the night.

Each message has a unique outbox key (`nudge:<action>:<due date>`, `digest:<tutor>:<ISO week>`),
so a job that runs every few minutes, twice, or on two machines still sends each one once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from core.calendar import DateRange, is_school_day, parse_school_holidays
from core.messages import Button
from core.settings import Settings
from scheduler.quiet import PUPIL, quiet_for
from storage import nudges
from storage.db import transaction
from storage.nudges import DigestLine, DueAction
from storage.outbox import notify_person

log = logging.getLogger(__name__)

NO_CONVERSATION_FOR = timedelta(weeks=6)
DIGEST_SHOWS = 30  # pupils listed by name; the rest are counted


def quiet(now: datetime, zone: ZoneInfo, school_holidays: Iterable[DateRange] = ()) -> bool:
    """True when nothing should go to pupils: night, weekend, bank holiday or school holiday."""
    return quiet_for(PUPIL, now, zone, school_holidays)


def next_school_day(today: date, school_holidays: Iterable[DateRange] = ()) -> date:
    ranges = list(school_holidays)
    day = today + timedelta(days=1)
    while not is_school_day(day, ranges):
        day += timedelta(days=1)
    return day


def nudge_window(today: date, school_holidays: Iterable[DateRange], quiet_hours: bool) -> tuple[date, date]:
    """Due dates whose nudge goes today: the last school day before they fall due.

    "The day before" an action due on Monday is Friday when the weekend is quiet.
    """
    last = next_school_day(today, school_holidays) if quiet_hours else today + timedelta(days=1)
    return today + timedelta(days=1), last


def due_words(due: date, today: date) -> str:
    """When an action is due, said the way a pupil reads it on `today`: "tomorrow (Thu 15 Oct)",
    or the day itself when that is further off (a Friday nudge for Monday: "on Monday 19 Oct")."""
    if due == today + timedelta(days=1):
        return f"tomorrow ({due:%a %d %b})"
    if due == today:
        return f"today ({due:%a %d %b})"
    return f"on {due:%A %d %b}"


def nudge_text(action: DueAction, today: date) -> str:
    return (
        f"A reminder: you agreed to do this, and it's due {due_words(action.due_date, today)}:\n{action.text}\n"
        "When it's done, mark it with /actions."
    )


def digest_text(tutor_name: str, lines: list[DigestLine], today: date, quiet_since: datetime) -> str:
    overdue = [line for line in lines if line.overdue]
    silent = [line for line in lines if line.last_conversation is None or line.last_conversation < quiet_since]
    parts = [f"Good morning {tutor_name}. Your weekly Waymark digest for the week of {today:%d %b}:"]
    if overdue:
        parts.append(f"\nPupils with overdue actions ({len(overdue)}):")
        parts += [f"- {line.name} ({line.form}): {line.overdue} overdue" for line in overdue[:DIGEST_SHOWS]]
        if len(overdue) > DIGEST_SHOWS:
            parts.append(f"...and {len(overdue) - DIGEST_SHOWS} more.")
    if silent:
        parts.append(f"\nNo conversation logged in the last six weeks ({len(silent)}):")
        parts += [
            f"- {line.name} ({line.form}): "
            + (f"last {line.last_conversation:%d %b}" if line.last_conversation else "none yet")
            for line in silent[:DIGEST_SHOWS]
        ]
        if len(silent) > DIGEST_SHOWS:
            parts.append(f"...and {len(silent) - DIGEST_SHOWS} more.")
    parts.append("\nSend /caseload to see them all, or /log to log a conversation.")
    return "\n".join(parts)


def run_action_nudges(engine: Engine, settings: Settings, now: datetime) -> int:
    """Nudge pupils about actions due tomorrow (or after the weekend); returns messages queued."""
    zone = settings.zone
    today = now.astimezone(zone).date()
    queued = 0
    with transaction(engine) as session:
        for school in nudges.schools(session):
            assert school.id is not None
            holidays = parse_school_holidays(school.holidays)
            if settings.quiet_hours and quiet(now, zone, holidays):
                continue
            first, last = nudge_window(today, holidays, settings.quiet_hours)
            for action in nudges.actions_due(session, school.id, first, last):
                queued += notify_person(
                    session,
                    key=f"nudge:{action.action_id}:{action.due_date.isoformat()}",
                    person_id=action.pupil_id,
                    text=nudge_text(action, today),
                    now=now,
                    buttons=[[Button("My actions", "/actions")]],
                )
    return queued


def run_digests(engine: Engine, settings: Settings, now: datetime) -> int:
    """Each tutor's weekly digest, on the first school-hours run of the week; returns messages queued."""
    zone = settings.zone
    today = now.astimezone(zone).date()
    iso = today.isocalendar()
    quiet_since = now - NO_CONVERSATION_FOR
    queued = 0
    with transaction(engine) as session:
        for school in nudges.schools(session):
            assert school.id is not None
            if settings.quiet_hours and quiet(now, zone, parse_school_holidays(school.holidays)):
                continue
            for tutor in nudges.tutors(session, school.id):
                assert tutor.id is not None
                lines = nudges.digest_lines(session, tutor.id, today, quiet_since)
                if not lines:
                    continue  # nothing needs them this week: no message
                queued += notify_person(
                    session,
                    key=f"digest:{tutor.id}:{iso.year}-W{iso.week:02d}",
                    person_id=tutor.id,
                    text=digest_text(tutor.given_name, lines, today, quiet_since),
                    now=now,
                    buttons=[[Button("Caseload", "/caseload")]],
                )
    return queued
