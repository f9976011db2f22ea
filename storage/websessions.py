"""Web chat sessions, and what the web chat reads and delivers for one signed-in browser.

A session id is 128 random bits that only the browser holds; the database keeps its SHA-256, so a
copy of the database signs nobody in. A session lives while it is used: 30 days without a visit
ends it, and it can be revoked at once (sign out, /unlink, a staff member removing the account).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select, update

from core.platforms import Platform
from storage import identities, outbox, transcript
from storage.models import ChatIdentity, OutboxMessage, TranscriptLine, WebSession

WEB = Platform.web.value
IDLE_LIMIT = timedelta(days=30)
# last_seen_at is refreshed at most this often, so reading a page is not a write every time.
TOUCH_EVERY = timedelta(hours=1)


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 16 bytes = 128 bits


def new_external_id() -> str:
    """The id of a web chat account: one per signed-in browser, never shown to anyone."""
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_key(external_id: str) -> str:
    return f"{WEB}:{external_id}"


def create(session: Session, person_id: int, external_id: str, now: datetime) -> str:
    """Start a session for a linked web chat account; returns the token for the cookie."""
    token = new_token()
    session.add(
        WebSession(
            token_hash=token_hash(token),
            person_id=person_id,
            external_id=external_id,
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def find(session: Session, token: str | None, now: datetime) -> WebSession | None:
    """The live session for this token, or None: unknown, revoked, idle too long, or its account unlinked."""
    if not token or len(token) > 200:
        return None
    row = session.exec(
        select(WebSession)
        .join(
            ChatIdentity,
            (col(ChatIdentity.platform) == WEB)
            & (col(ChatIdentity.external_id) == col(WebSession.external_id))
            & (col(ChatIdentity.person_id) == col(WebSession.person_id)),
        )
        .where(
            WebSession.token_hash == token_hash(token),
            col(WebSession.revoked_at).is_(None),
            col(WebSession.last_seen_at) > now - IDLE_LIMIT,
        )
    ).first()
    return row


def needs_touch(row: WebSession, now: datetime) -> bool:
    return row.last_seen_at <= now - TOUCH_EVERY


def touch(session: Session, session_id: int, now: datetime) -> None:
    session.exec(update(WebSession).where(col(WebSession.id) == session_id).values(last_seen_at=now))


def revoke(session: Session, session_id: int, now: datetime) -> None:
    session.exec(
        update(WebSession)
        .where(col(WebSession.id) == session_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def revoke_for_identity(session: Session, external_id: str, now: datetime) -> int:
    """End every session of one web chat account (called by handlers.linking.unlink)."""
    result = session.exec(
        update(WebSession)
        .where(col(WebSession.external_id) == external_id, col(WebSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)


def is_linked(session: Session, external_id: str) -> bool:
    return identities.find(session, WEB, external_id) is not None


# --- the conversation of one web chat account ---------------------------------------------------


def recent_lines(
    session: Session, external_id: str, limit: int = 200, before_id: int | None = None
) -> list[TranscriptLine]:
    """The last `limit` lines of this account's conversation (before line `before_id`, when given,
    for paging back through it), oldest first."""
    query = select(TranscriptLine).where(TranscriptLine.identity_key == identity_key(external_id))
    if before_id is not None:
        query = query.where(col(TranscriptLine.id) < before_id)
    rows = session.exec(query.order_by(col(TranscriptLine.id).desc()).limit(limit)).all()
    return list(reversed(rows))


def lines_after(session: Session, external_id: str, after_id: int, limit: int = 200) -> list[TranscriptLine]:
    return transcript.lines_after(session, identity_key(external_id), after_id, limit)


def line_of(session: Session, external_id: str, line_id: int) -> TranscriptLine | None:
    """One line, only if it belongs to this account: an id from a URL never reaches anyone else's."""
    return session.exec(
        select(TranscriptLine).where(
            TranscriptLine.id == line_id, TranscriptLine.identity_key == identity_key(external_id)
        )
    ).first()


# --- outbox messages for open web chats ---------------------------------------------------------


def chats_with_mail(session: Session, external_ids: list[str]) -> list[str]:
    """Which of these web chat accounts have outbox messages waiting (a cheap read before any write)."""
    if not external_ids:
        return []
    rows = session.exec(
        select(OutboxMessage.chat_id)
        .where(
            OutboxMessage.platform == WEB,
            OutboxMessage.status == "pending",
            col(OutboxMessage.chat_id).in_(external_ids),
        )
        .group_by(col(OutboxMessage.chat_id))
    ).all()
    return list(rows)


def deliver_outbox(session: Session, external_id: str, now: datetime) -> int:
    """Move this account's waiting outbox messages into its conversation, so the page shows them."""
    rows = outbox.take_for_identity(session, WEB, external_id, now)
    for row in rows:
        payload = {"buttons": json.loads(row.buttons or "[]")}
        transcript.record(session, identity_key(external_id), row.person_id, "out", row.text, now, payload)
    return len(rows)


def live_session_count(session: Session, now: datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(WebSession)
            .where(col(WebSession.revoked_at).is_(None), col(WebSession.last_seen_at) > now - IDLE_LIMIT)
        ).one()
    )
