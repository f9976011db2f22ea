"""The alert: one outbox row per concern to every DSL on each chat account they have linked, plus
their email, sent whatever the quiet hours. Its wording is `handlers.safeguarding.alert_text`: the
pupil, their form, the time, the channel and the category; never the words, which lock screens and
mail previews would show. The words are read by opening the concern (`/concerns ID`, the Open button).

The escalation job (scheduler/safeguarding.py) sends held alerts and escalations through the same
`send_alert` and `tell_leads`, so every alert reaches the same places in the same words.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from core.messages import Button
from core.platforms import Platform
from core.platforms import label as platform_label
from core.settings import Settings
from handlers.safeguarding.alert_text import alert_text, label_for, open_button, when, who
from storage import concerns, outbox
from storage.models import Concern, Person

UNRECORDED = (
    "Waymark could not record it, because WAYMARK_ENCRYPTION_KEY is not set, so it cannot be opened "
    "here: please speak to the pupil, and ask the administrator to set the key."
)


def alert_key(concern_id: int) -> str:
    return f"sg:alert:{concern_id}"


def tell_leads(
    session: Session,
    leads: list[Person],
    *,
    key: str,
    text: str,
    buttons: list[list[Button]],
    now: datetime,
    email: bool,
) -> int:
    """One urgent row per chat account of every DSL, and, when `email` (WAYMARK_SMTP_URL is set), one
    to their email address if they have one. The email turns the Open button into the command to send
    (bot/channels/email.py)."""
    added = 0
    for lead in leads:
        assert lead.id is not None
        added += outbox.notify_person(
            session, key=key, person_id=lead.id, text=text, now=now, buttons=buttons, urgent=True
        )
        address = (lead.email or "").strip().lower()
        if email and "@" in address:
            added += outbox.enqueue(
                session,
                key=f"{key}:{Platform.email.value}:{address}",
                person_id=lead.id,
                platform=Platform.email.value,
                chat_id=address,
                text=text,
                now=now,
                buttons=buttons,
                urgent=True,
            )
    return added


def send_alert(session: Session, settings: Settings, concern: Concern, now: datetime) -> int:
    """Write the alert rows for a concern and mark it alerted; 0 rows (and not alerted) while the
    school has no DSL, so the alert goes as soon as one is added."""
    assert concern.id is not None
    leads = concerns.dsls(session, concern.school_id)
    pupil = session.get(Person, concern.subject_id)
    if not leads or pupil is None:
        return 0
    text, buttons = alert_text(pupil, concern, settings.zone), [[open_button(concern.id)]]
    rows = tell_leads(
        session, leads, key=alert_key(concern.id), text=text, buttons=buttons, now=now, email=bool(settings.smtp_url)
    )
    concerns.mark_alerted(session, concern, now)
    return rows


def send_unrecorded_alert(
    session: Session, settings: Settings, *, subject: Person, category: str, channel: str, now: datetime
) -> int:
    """With no encryption key a concern cannot be kept, but the DSLs are still told who and when (one
    alert per pupil, category and hour, so ten messages are one alert). Never the words."""
    leads = concerns.dsls(session, subject.school_id)
    text = (
        f"Safeguarding concern: {who(subject)}.\n"
        f"{label_for(category, category)}. At {when(now, settings.zone)} on {platform_label(channel)}.\n{UNRECORDED}"
    )
    key = f"sg:alert:unrecorded:{subject.id}:{category}:{now:%Y%m%d%H}"
    return tell_leads(session, leads, key=key, text=text, buttons=[], now=now, email=bool(settings.smtp_url))
