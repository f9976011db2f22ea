"""What was said on the school's own channels (web chat, terminal), so a page can show the conversation.

A sealed line (a staff-only note, safeguarding words, a sign-in code sent to someone) keeps its
words only encrypted, in the payload; its `text` is a placeholder. `shown` gives the words back to
whoever holds the key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage import crypto
from storage.models import TranscriptLine

SEALED = "(kept encrypted)"
SEALED_KEY = "sealed"


def record(
    session: Session,
    identity_key: str,
    person_id: int | None,
    direction: str,
    text: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    *,
    sealed_with: crypto.KeyLike = None,
) -> TranscriptLine:
    """One line; with `sealed_with` (the keys) its words are kept only encrypted. Without a usable
    key a sealed line keeps only the placeholder: never the words in clear."""
    payload = dict(payload or {})
    if sealed_with is not None:
        if crypto.has_key(sealed_with):
            payload[SEALED_KEY] = crypto.seal(sealed_with, text)
        text = SEALED
    line = TranscriptLine(
        identity_key=identity_key,
        person_id=person_id,
        direction=direction,
        text=text,
        payload=json.dumps(payload, ensure_ascii=False),
        created_at=now,
    )
    session.add(line)
    return line


def lines_after(session: Session, identity_key: str, after_id: int = 0, limit: int = 200) -> list[TranscriptLine]:
    """The conversation of one chat account, oldest first, after a line id the caller has seen."""
    rows = session.exec(
        select(TranscriptLine)
        .where(TranscriptLine.identity_key == identity_key, col(TranscriptLine.id) > after_id)
        .order_by(col(TranscriptLine.id))
        .limit(limit)
    ).all()
    return list(rows)


def last_lines(session: Session, identity_key: str, limit: int) -> list[TranscriptLine]:
    """The last `limit` lines of one chat account's conversation, oldest first."""
    if limit <= 0:
        return []
    rows = session.exec(
        select(TranscriptLine)
        .where(TranscriptLine.identity_key == identity_key)
        .order_by(col(TranscriptLine.id).desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def shown(line: TranscriptLine, keys: crypto.KeyLike) -> str:
    """The line's words as the person saw them: a sealed line decrypted, or the placeholder when
    these keys cannot read it."""
    if SEALED_KEY not in line.payload:
        return line.text
    try:
        token = json.loads(line.payload).get(SEALED_KEY)
    except (ValueError, AttributeError):
        return line.text
    if not isinstance(token, str):
        return line.text
    try:
        return crypto.unseal(keys, token)
    except (crypto.NoKeyError, crypto.UnreadableNoteError):
        return line.text
