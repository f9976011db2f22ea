"""The yearly alumni campaign: pure rules for what is due, and thin runs that write it down.

Rules (all dates in the school time zone):

- A campaign year Y opens on the first working day on or after the configured start (default
  1 October) and stays open for `campaign_window_days`; a scheduled run outside it does nothing.
  `waymark campaign run-now` may bring it forward by up to RUN_NOW_LEAD.
- An alumnus's first campaign is the first one that opens after they leave; that is year 1 after
  leaving. Years 1..`campaign_years` get one check-in each.
- Reminders go `reminder_days` after the check-in (default 7 and 14), at most two, while it is
  unanswered; an answer, /stop or an unreachable account ends them.
- Nobody is messaged without a yearly-checkin consent whose latest answer is yes.

Every run recomputes what is due from the database, and each decision lands as a `Checkin` row
plus an outbox row with a unique key (`checkin:<person>:<year>:<attempt>`) in the same
transaction, so running twice, restarting, or a second scheduler never makes a second message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from core.calendar import (
    asking_window,
    is_night,
    leaving_range,
    parse_school_holidays,
    run_now_campaign_year,
    scheduled_campaign_year,
    years_after_leaving,
)
from core.messages import Button
from core.platforms import Platform
from core.settings import Settings
from scheduler.reminders import quiet
from storage import checkins, leavers
from storage.checkins import DueAlumnus, OutboxItem, Reachable
from storage.db import transaction
from storage.models import Checkin, School
from storage.outbox import notify_person

log = logging.getLogger(__name__)

BATCH = 500
EMAIL = Platform.email.value


# ---- pure rules ---------------------------------------------------------------------------------


def choose_channel(alumnus: DueAlumnus, accounts: list[Reachable]) -> Reachable | None:
    """The consented chat account if it can be reached, else email if they gave one, else nobody."""
    if alumnus.channel and alumnus.channel != EMAIL:
        for account in accounts:
            if account.platform == alumnus.channel:
                return account
    elif alumnus.channel is None and accounts:
        # Consent without a chosen channel (e.g. recorded by staff): any account they use, pushable first.
        return sorted(accounts, key=lambda a: a.platform == Platform.web.value)[0]
    if alumnus.email:
        return Reachable(EMAIL, alumnus.email)
    return None


def next_reminder_at(sent_at: datetime, reminders_sent: int, reminder_days: tuple[int, ...]) -> datetime | None:
    """When the next reminder is due, or None when no more are (at most two)."""
    if reminders_sent >= min(len(reminder_days), 2):
        return None
    return sent_at + timedelta(days=reminder_days[reminders_sent])


def message_key(person_id: int, campaign_year: int, attempt: int) -> str:
    """attempt 0 is the check-in itself, 1 and 2 the reminders."""
    return f"checkin:{person_id}:{campaign_year}:{attempt}"


CHECKIN_BUTTONS = [[Button("Tell us where you are", "/destination")], [Button("Stop these messages", "/stop")]]


def checkin_text(alumnus: DueAlumnus, year_after_leaving: int, attempt: int) -> str:
    when = {1: "a year", 2: "two years", 3: "three years"}.get(year_after_leaving, f"{year_after_leaving} years")
    if attempt == 0:
        return (
            f"Hi {alumnus.given_name}, it's {alumnus.school_name}. It's been about {when} since you left: "
            "where are you now? It takes one minute, and it helps us help pupils who come after you. "
            "Tap below (or send /destination). Send /stop if you'd rather we didn't ask again."
        )
    return (
        f"Hi {alumnus.given_name}, a quick reminder from {alumnus.school_name}: we'd love to know where you "
        "are now. Tap below (or send /destination), or send /stop and we won't ask again."
    )


def alumni_quiet(now: datetime, settings: Settings) -> bool:
    """No yearly messages at night (school time) unless quiet hours are switched off."""
    return settings.quiet_hours and is_night(now.astimezone(settings.zone).time())


# ---- runs ---------------------------------------------------------------------------------------


@dataclass
class CampaignResult:
    campaign_year: int | None
    checked: int = 0  # alumni looked at
    sent: int = 0  # check-ins queued by this run
    unreachable: int = 0  # due, but no channel to reach them
    graduated: int = 0  # pupils who became alumni in this run
    skipped: str = ""  # why nothing was done, when nothing was


@dataclass
class ReminderResult:
    sent: int = 0
    unreachable: int = 0
    keys: list[str] = field(default_factory=list)


def run_leavers(engine: Engine, settings: Settings, now: datetime) -> int:
    """Pupils whose leaving date has passed become alumni."""
    with transaction(engine) as session:
        return leavers.graduate(session, now.astimezone(settings.zone).date(), now)


def count_due(engine: Engine, settings: Settings, campaign_year: int, school_id: int | None = None) -> int:
    left_from, left_before = leaving_range(campaign_year, settings.campaign)
    with transaction(engine, write=False) as session:
        return sum(checkins.due_counts(session, campaign_year, left_from, left_before, school_id).values())


def run_checkins(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    force: bool = False,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    school_id: int | None = None,
) -> CampaignResult:
    """Queue this year's check-in for every consenting alumnus who has not had one (of one school, when given).

    `force` (run-now) ignores the window and the night; the yearly key still makes it once a year.
    """
    today = now.astimezone(settings.zone).date()
    year = (
        run_now_campaign_year(today, settings.campaign) if force else scheduled_campaign_year(today, settings.campaign)
    )
    result = CampaignResult(year, graduated=run_leavers(engine, settings, now))
    if year is None:
        result.skipped = "the campaign window is closed"
        return result
    if not force and alumni_quiet(now, settings):
        result.skipped = "night time at school"
        return result
    left_from, left_before = leaving_range(year, settings.campaign)
    after_id = 0
    while True:
        with transaction(engine) as session:
            due = checkins.due_batch(session, year, left_from, left_before, after_id, batch, school_id)
            if not due:
                break
            accounts = checkins.reachable_accounts(session, [a.person_id for a in due])
            rows, messages = [], {}
            for alumnus in due:
                channel = choose_channel(alumnus, accounts.get(alumnus.person_id, []))
                yal = years_after_leaving(alumnus.leaving_date, year, settings.campaign)
                rows.append(
                    {
                        "person_id": alumnus.person_id,
                        "campaign_year": year,
                        "year_after_leaving": yal,
                        "channel": channel.platform if channel else "none",
                        "status": "sent" if channel else "unreachable",
                        "reminders": 0,
                        "sent_at": now,
                    }
                )
                if channel:
                    messages[alumnus.person_id] = OutboxItem(
                        message_key(alumnus.person_id, year, 0),
                        alumnus.person_id,
                        channel.platform,
                        channel.chat_id,
                        checkin_text(alumnus, yal, 0),
                        CHECKIN_BUTTONS,
                    )
            created = checkins.insert_checkins(session, rows)
            result.sent += checkins.insert_outbox(session, (m for p, m in messages.items() if p in created), now)
            result.unreachable += sum(1 for a in due if a.person_id in created and a.person_id not in messages)
        result.checked += len(due)
        after_id = due[-1].person_id
        if progress:
            progress(len(due))
    log.info("campaign %s: %s check-ins queued, %s unreachable", year, result.sent, result.unreachable)
    return result


def run_reminders(
    engine: Engine, settings: Settings, now: datetime, *, batch: int = BATCH, school_id: int | None = None
) -> ReminderResult:
    """Queue reminders 1 and 2 for check-ins still unanswered after the configured days (of one school, when given)."""
    result = ReminderResult()
    days = settings.reminder_days[:2]
    if not days or alumni_quiet(now, settings):
        return result
    after_id = 0
    while True:
        with transaction(engine) as session:
            due = checkins.reminders_batch(session, now, days, after_id, batch, school_id)
            if not due:
                break
            accounts = checkins.reachable_accounts(session, [a.person_id for _, a in due])
            for checkin, alumnus in due:
                _remind(session, checkin, alumnus, accounts.get(alumnus.person_id, []), days, now, result)
        after_id = due[-1][0].id or after_id
    return result


def _remind(
    session: Session,
    checkin: Checkin,
    alumnus: DueAlumnus,
    accounts: list[Reachable],
    days: tuple[int, ...],
    now: datetime,
    result: ReminderResult,
) -> None:
    assert checkin.id is not None
    due_at = next_reminder_at(checkin.sent_at, checkin.reminders, days)
    if due_at is None or due_at > now:
        return
    earlier = [message_key(checkin.person_id, checkin.campaign_year, a) for a in range(checkin.reminders + 1)]
    channel = choose_channel(alumnus, accounts)
    bounced = checkin.channel == EMAIL and any(checkins.message_status(session, k) == "undeliverable" for k in earlier)
    if channel is None or bounced:
        checkins.set_status(session, checkin.id, "unreachable")
        result.unreachable += 1
        return
    attempt = checkin.reminders + 1
    if not checkins.claim_reminder(session, checkin.id, attempt, now):
        return  # another scheduler got there first
    key = message_key(checkin.person_id, checkin.campaign_year, attempt)
    yal = checkin.year_after_leaving
    item = OutboxItem(
        key, checkin.person_id, channel.platform, channel.chat_id, checkin_text(alumnus, yal, attempt), CHECKIN_BUTTONS
    )
    if checkins.insert_outbox(session, [item], now):
        result.sent += 1
        result.keys.append(key)


# ---- leavers ----------------------------------------------------------------------------------

LEAVING_TEXT = (
    "Hi {name}, you're leaving school soon. Before you go, we have a quick question about staying "
    "in touch (two minutes). Tap below, or send /leaving."
)


def run_leaver_invitations(engine: Engine, settings: Settings, now: datetime) -> int:
    """Ask each leaver once (one outbox key per person and account) about yearly messages."""
    zone = settings.zone
    first, last = asking_window(now.astimezone(zone).date())
    queued = 0
    with transaction(engine) as session:
        quiet_at: dict[int, bool] = {}
        for pupil in list(leavers.to_invite(session, first, last)):
            assert pupil.id is not None
            if pupil.school_id not in quiet_at:
                school = session.get(School, pupil.school_id)
                holidays = parse_school_holidays(school.holidays if school else "")
                quiet_at[pupil.school_id] = settings.quiet_hours and quiet(now, zone, holidays)
            if quiet_at[pupil.school_id]:
                continue
            queued += notify_person(
                session,
                key=f"leaving:{pupil.id}",
                person_id=pupil.id,
                text=LEAVING_TEXT.format(name=pupil.given_name),
                now=now,
                buttons=[[Button("Answer now", "/leaving")]],
            )
    return queued
