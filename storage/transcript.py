"""What was said on the school's own channels (web chat, terminal), so a page can show the conversation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import TranscriptLine


def record(
    session: Session,
    identity_key: str,
    person_id: int | None,
    direction: str,
    text: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> TranscriptLine:
    line = TranscriptLine(
        identity_key=identity_key,
        person_id=person_id,
        direction=direction,
        text=text,
        payload=json.dumps(payload or {}, ensure_ascii=False),
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
