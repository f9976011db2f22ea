"""The outbox: messages that are not answers, written in the transaction that decides them.

A row's `key` is unique, so deciding the same message twice (a restart, a second scheduler, a
retried step) can never create a second row. Senders drain pending rows (see scheduler/sender.py);
channels a person has open (web chat, terminal) pull their own rows with `take_for_identity`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.types import Button
from storage.identities import identities_of
from storage.models import OutboxMessage


def enqueue(
    session: Session,
    *,
    key: str,
    person_id: int,
    platform: str,
    chat_id: str,
    text: str,
    now: datetime,
    buttons: list[list[Button]] | None = None,
) -> bool:
    """Add a message unless one with this key exists; True when added. Safe inside any transaction."""
    exists = session.exec(select(OutboxMessage.id).where(OutboxMessage.key == key)).first()
    if exists is not None:
        return False
    row = OutboxMessage(
        key=key,
        person_id=person_id,
        platform=platform,
        chat_id=chat_id,
        text=text,
        buttons=json.dumps([[asdict(b) for b in r] for r in (buttons or [])], ensure_ascii=False),
        created_at=now,
        next_attempt_at=now,
    )
    try:
        with session.begin_nested():  # a racing writer with the same key loses only this row
            session.add(row)
    except IntegrityError:
        return False
    return True


def decode_buttons(row: OutboxMessage) -> list[list[Button]]:
    return [[Button(**b) for b in r] for r in json.loads(row.buttons or "[]")]


def take_for_identity(
    session: Session, platform: str, chat_id: str, now: datetime, limit: int = 50
) -> list[OutboxMessage]:
    """Pending messages for a chat the person has open on the school's own channels; marks them sent."""
    rows = list(
        session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.platform == platform,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.status == "pending",
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        ).all()
    )
    for row in rows:
        row.status = "sent"
        row.sent_at = now
        row.attempts += 1
        session.add(row)
    return rows


def notify_person(
    session: Session, *, key: str, person_id: int, text: str, now: datetime, buttons: list[list[Button]] | None = None
) -> int:
    """Tell a person something on every chat account they have linked and can be reached on.

    One row per account (the key gains platform and account), so each channel delivers its own.
    A person with no account gets nothing here: what they are told about is in their record anyway.
    """
    added = 0
    for identity in identities_of(session, person_id):
        if identity.unreachable_at is not None:
            continue
        added += enqueue(
            session,
            key=f"{key}:{identity.platform}:{identity.external_id}",
            person_id=person_id,
            platform=identity.platform,
            chat_id=identity.chat_id,
            text=text,
            now=now,
            buttons=buttons,
        )
    return added
