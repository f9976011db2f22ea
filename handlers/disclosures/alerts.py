"""The alert: one outbox row per concern to every DSL on each chat account they have linked, plus
email, sent whatever the quiet hours. It names the pupil, their form, the time, the channel and the
category; never the words, which lock screens would show. The words are read by opening the concern
(`/concerns ID`, the Open button)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core import platforms
from core.messages import Button
from core.platforms import Platform
from core.settings import Settings
from handlers.safeguarding.categories import Category
from storage import concerns, outbox
from storage.models import Concern, ConcernSource, Person

ASKED = "asked"  # the category of a concern the pupil raised by asking for help (/worried)
STAFF = "staff"  # the category of a concern a member of staff raised (/concern NAME)


def category_label(category: str) -> str:
    if category == ASKED:
        return "The pupil asked to talk to someone"
    if category == STAFF:
        return "Raised by a member of staff"
    try:
        return Category(category).label
    except ValueError:
        return category


def alert_key(concern_id: int) -> str:
    return f"sg:alert:{concern_id}"


def open_button(concern_id: int) -> Button:
    return Button("Open", f"/concerns {concern_id}")


def _facts(pupil: Person, concern: Concern, zone: ZoneInfo) -> str:
    form = f", form {pupil.form}" if pupil.form else ""
    at = concern.raised_at.astimezone(zone)
    source = "on Waymark" if concern.source != ConcernSource.staff else "by a member of staff"
    return (
        f"Safeguarding concern about {pupil.full_name}{form}.\n"
        f"{category_label(concern.category)}, raised {source} at {at:%H:%M} on {at:%A} {at.day} {at:%B} "
        f"({platforms.label(concern.channel) if concern.channel else 'Waymark'})."
    )


def alert_text(pupil: Person, concern: Concern, zone: ZoneInfo) -> str:
    return f"{_facts(pupil, concern, zone)}\nTap Open to read it and take it on."


def email_text(pupil: Person, concern: Concern, zone: ZoneInfo) -> str:
    """An email has no buttons: it says how to open the concern instead."""
    return f"{_facts(pupil, concern, zone)}\nOpen Waymark and send /concerns {concern.id} to read it and take it on."


UNRECORDED = (
    "Waymark could not record it, because WAYMARK_ENCRYPTION_KEY is not set, so it cannot be opened "
    "here: please speak to the pupil, and ask the administrator to set the key."
)


def send_unrecorded_alert(
    session: Session, settings: Settings, *, subject: Person, category: str, channel: str, now: datetime
) -> int:
    """With no encryption key a concern cannot be kept, but the DSLs are still told who and when (one
    alert per pupil, category and hour, so ten messages are one alert). Never the words."""
    leads = concerns.dsls(session, subject.school_id)
    at = now.astimezone(settings.zone)
    form = f", form {subject.form}" if subject.form else ""
    text = (
        f"Safeguarding concern about {subject.full_name}{form}.\n"
        f"{category_label(category)}, at {at:%H:%M} on {at:%A} {at.day} {at:%B} "
        f"({platforms.label(channel)}).\n{UNRECORDED}"
    )
    key = f"sg:alert:unrecorded:{subject.id}:{category}:{now:%Y%m%d%H}"
    return _to_every_lead(session, settings, leads, key=key, text=text, email=text, buttons=[], now=now)


def _to_every_lead(
    session: Session,
    settings: Settings,
    leads: list[Person],
    *,
    key: str,
    text: str,
    email: str,
    buttons: list[list[Button]],
    now: datetime,
) -> int:
    """One urgent row per chat account of every DSL, and one email each when the process has email."""
    rows = 0
    for lead in leads:
        assert lead.id is not None
        rows += outbox.notify_person(
            session, key=key, person_id=lead.id, text=text, now=now, buttons=buttons, urgent=True
        )
        if settings.smtp_url and lead.email and "@" in lead.email:
            rows += outbox.enqueue(
                session,
                key=f"{key}:{Platform.email.value}:{lead.id}",
                person_id=lead.id,
                platform=Platform.email.value,
                chat_id=lead.email,
                text=email,
                now=now,
                urgent=True,
            )
    return rows


def send_alert(session: Session, settings: Settings, concern: Concern, now: datetime) -> int:
    """Write the alert rows for a new concern and mark it alerted; 0 rows (and not alerted) while the
    school has no DSL, so the alert goes as soon as one is added."""
    assert concern.id is not None
    leads = concerns.dsls(session, concern.school_id)
    pupil = session.get(Person, concern.subject_id)
    if not leads or pupil is None:
        return 0
    rows = _to_every_lead(
        session,
        settings,
        leads,
        key=alert_key(concern.id),
        text=alert_text(pupil, concern, settings.zone),
        email=email_text(pupil, concern, settings.zone),
        buttons=[[open_button(concern.id)]],
        now=now,
    )
    concerns.mark_alerted(session, concern, now)
    return rows
