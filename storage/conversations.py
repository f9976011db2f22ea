"""Conversation state and processed update ids: kept in the database so any process can continue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import ConversationState, ProcessedUpdate

# Statements built once: they run for every message.
_MARK_PROCESSED = insert(ProcessedUpdate.__table__)  # type: ignore[attr-defined]
_LOAD = select(ConversationState).where(
    ConversationState.platform == bindparam("platform"), ConversationState.external_id == bindparam("external_id")
)


def mark_processed(session: Session, platform: str, update_id: str, now: datetime) -> None:
    """Recorded in the step's transaction: a second process handling the same update fails to commit."""
    session.connection().execute(_MARK_PROCESSED, {"platform": platform, "update_id": update_id, "at": now})


@dataclass
class IdleChat:
    """A chat with no saved step. Most messages come from idle chats; an ORM object for each costs more
    than the query that found nothing."""

    platform: str
    external_id: str
    id: None = None
    state: str = ""
    data: str = "{}"


def load(session: Session, platform: str, external_id: str) -> ConversationState | IdleChat:
    row = session.exec(_LOAD, params={"platform": platform, "external_id": external_id}).first()
    return row if row is not None else IdleChat(platform, external_id)


def decode(row: ConversationState | IdleChat) -> dict[str, Any]:
    try:
        data = json.loads(row.data or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def save(session: Session, row: ConversationState | IdleChat, state: str, data: dict[str, Any], now: datetime) -> None:
    encoded = json.dumps(data, ensure_ascii=False, default=str) if state else "{}"
    if isinstance(row, IdleChat):
        if not state:
            return  # nothing to remember about an idle chat
        row = ConversationState(platform=row.platform, external_id=row.external_id)
    if row.state == state and row.data == encoded:
        return
    row.state = state
    row.data = encoded
    row.updated_at = now
    session.add(row)


def forget(session: Session, platform: str, external_id: str, now: datetime) -> None:
    """Drop a chat account's half-finished conversation (it is being unlinked).

    Emptied rather than deleted: /unlink runs inside a step whose engine has this row loaded and
    saves it afterwards, and the ORM update keeps that loaded copy in step (already empty).
    """
    session.exec(
        update(ConversationState)
        .where(col(ConversationState.platform) == platform, col(ConversationState.external_id) == external_id)
        .values(state="", data="{}", updated_at=now)
    )


def prune_processed(session: Session, before: datetime, batch: int = 5000) -> int:
    """Forget processed update ids recorded before `before`; returns how many went.

    Telegram re-sends an update only within 24 hours and Slack retries within minutes, so a
    month-old id guards against nothing. Deleted by id in batches: one short statement at a time.
    """
    table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
    old = sa_select(table.c.id).where(table.c.at < before).limit(batch).scalar_subquery()
    result = session.connection().execute(sa_delete(table).where(table.c.id.in_(old)))
    return int(result.rowcount or 0)
