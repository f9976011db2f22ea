"""Safeguarding alerts that must not wait: the ones held for a DSL, and the ones nobody acknowledged.

Every minute, recomputed from the database, so a missed tick only makes a message late:

- concerns raised while the school had no DSL get their alert as soon as one is added (outbox key
  `sg:alert:{id}`, the same wording as an alert sent at once, handlers.safeguarding.alert_text);
- an alert not acknowledged within the school's minutes (`School.safeguarding_escalate_minutes`)
  is sent again to every DSL and told to the school's escalation contacts by email (key
  `sg:escalate:{id}:{n}`). Contacts who are not DSLs learn only that a concern about a named pupil
  has waited so long: never the words, never the category. An alert that reached no DSL on a
  channel that pushes it (every DSL linked only to the web chat, or the sender gave up on their
  messages) does not wait those minutes: its first escalation goes at once (core.reach).

When (school time): the first escalation goes when it falls due unless it is night (21:00-07:30),
then at 07:30; the repeats go hourly on working days from 07:30 to 18:00, so after a quiet night
or a weekend the next one is 07:30 on the next working day. Every row is urgent: the sender's
quiet hours never hold it, since this job has already decided that now is a fit time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.calendar import is_night, is_working_day
from core.platforms import Platform
from core.reach import alert_reached
from core.settings import Settings
from handlers.disclosures.alerts import alert_key, send_alert, tell_leads
from handlers.safeguarding.alert_text import category_label, open_button, waited, when, who
from storage import concerns, outbox, schools
from storage.db import transaction
from storage.models import Concern, ConcernStatus, Person
from storage.staff import find_by_email

WORK_ENDS = time(18, 0)  # repeats stop here; the night's end (07:30) starts them again
EMAIL = Platform.email.value


def escalation_allowed(now: datetime, zone: ZoneInfo, *, first: bool) -> bool:
    """May an escalation go now? Never at night; a repeat only on a working day before 18:00."""
    local = now.astimezone(zone)
    if is_night(local.time()):
        return False
    return first or (is_working_day(local.date()) and local.time() < WORK_ENDS)


def escalation_text(pupil: Person, concern: Concern, zone: ZoneInfo, now: datetime) -> str:
    """What a DSL reads when an alert is sent again."""
    return (
        f"Still waiting: safeguarding concern {concern.id} about {who(pupil)} has not been acknowledged "
        f"after {waited(now - concern.raised_at)}.\n"
        f"{category_label(concern)}. Raised at {when(concern.raised_at, zone)}.\n"
        "Please open it and take it on."
    )


def contact_text(pupil: Person, concern: Concern, leads: list[Person], now: datetime) -> str:
    """What an escalation contact who is not a DSL reads: a named pupil and how long, nothing more."""
    who_can = (
        f"The safeguarding leads ({', '.join(p.full_name for p in leads)}) can open it in Waymark with /concerns."
        if leads
        else "The school has no safeguarding lead in Waymark now: add one with `waymark staff add EMAIL NAME --role dsl`."
    )
    return (
        f"A safeguarding concern about {pupil.full_name} has waited {waited(now - concern.raised_at)} "
        "without being acknowledged by the school's safeguarding lead.\n\n"
        f"You are told because you are one of the school's safeguarding escalation contacts. {who_can}\n"
    )


@dataclass(frozen=True)
class SafeguardingRun:
    alerted: int  # concerns whose held alert went out now
    escalated: int  # concerns escalated now


def send_held_alerts(session: Session, settings: Settings, now: datetime) -> int:
    """Alerts for concerns raised while their school had no DSL, once it has one (the same alert a
    concern raised with a DSL in place gets at once: handlers.disclosures.alerts.send_alert)."""
    school_ids = session.exec(
        select(Concern.school_id)
        .where(col(Concern.alerted_at).is_(None), Concern.status != ConcernStatus.closed.value)
        .distinct()
    ).all()
    alerted = 0
    for school_id in school_ids:
        if not concerns.dsls(session, school_id):
            continue  # still recorded; `waymark run` and `waymark staff list` say there is no DSL
        for concern in concerns.not_alerted(session, school_id):
            if concern.id is not None and send_alert(session, settings, concern, now):
                alerted += 1
    return alerted


def escalate(session: Session, settings: Settings, now: datetime) -> int:
    """Send again every alert that waited too long, tell the contacts (by email, when the process has
    WAYMARK_SMTP_URL), and mark it escalated."""
    zone, email = settings.zone, bool(settings.smtp_url)
    escalated = 0

    def reached(concern: Concern) -> bool:
        return alert_reached(outbox.copies_of(session, f"{alert_key(concern.id or 0)}:"))

    for concern, school in concerns.waiting_for_escalation(session, now, reached):
        if not escalation_allowed(now, zone, first=concern.escalated_at is None):
            continue
        pupil = session.get(Person, concern.subject_id)
        if pupil is None or concern.id is None or school.id is None:
            continue
        key = f"sg:escalate:{concern.id}:{concern.escalations + 1}"
        leads = concerns.dsls(session, school.id)
        text, buttons = escalation_text(pupil, concern, zone, now), [[open_button(concern.id)]]
        tell_leads(session, leads, key=key, text=text, buttons=buttons, now=now, email=email)
        told = {dsl.email.lower() for dsl in leads if dsl.email}
        for address in schools.contacts_of(school) if email else []:
            if address.lower() in told:
                continue  # a DSL among the contacts has the DSL's message already
            staff = find_by_email(session, school.id, address)
            outbox.enqueue(
                session,
                key=f"{key}:{EMAIL}:{address.lower()}",
                # The row needs a person: the contact when they are on the staff, else the pupil it is about.
                person_id=(staff.id if staff is not None else pupil.id) or 0,
                platform=EMAIL,
                chat_id=address.lower(),
                text=contact_text(pupil, concern, leads, now),
                now=now,
                urgent=True,
            )
        concerns.mark_escalated(session, concern, now)
        escalated += 1
    return escalated


def run_safeguarding(engine: Engine, settings: Settings, now: datetime) -> SafeguardingRun:
    with transaction(engine) as session:
        alerted = send_held_alerts(session, settings, now)
        escalated = escalate(session, settings, now)
    return SafeguardingRun(alerted, escalated)
