"""Conversation state and processed update ids: kept in the database so any process can continue."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from storage.models import ConversationState, ProcessedUpdate


def mark_processed(session: Session, platform: str, update_id: str, now: datetime) -> None:
    """Recorded in the step's transaction: a second process handling the same update fails to commit."""
    session.add(ProcessedUpdate(platform=platform, update_id=update_id, at=now))


def load(session: Session, platform: str, external_id: str) -> ConversationState:
    row = session.exec(
        select(ConversationState).where(
            ConversationState.platform == platform, ConversationState.external_id == external_id
        )
    ).first()
    return row or ConversationState(platform=platform, external_id=external_id)


def decode(row: ConversationState) -> dict[str, Any]:
    try:
        data = json.loads(row.data or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def save(session: Session, row: ConversationState, state: str, data: dict[str, Any], now: datetime) -> None:
    encoded = json.dumps(data, ensure_ascii=False, default=str) if state else "{}"
    if row.id is None and not state:
        return  # nothing to remember about an idle chat
    if row.state == state and row.data == encoded:
        return
    row.state = state
    row.data = encoded
    row.updated_at = now
    session.add(row)
