"""Files and images offered in the school's own chats (web chat, terminal), kept apart from the transcript.

The transcript line that offered one names it by id in its payload (`file_id`, `image_id`); the
bytes live here, with `created_at` so retention can prune them. A file is only ever read together
with the chat account it was offered to, so an id guessed from a URL reaches nobody else's.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import ChatFile


def offer(
    session: Session,
    identity_key: str,
    person_id: int | None,
    name: str,
    content_type: str,
    body: bytes,
    now: datetime,
) -> int:
    """Keep a file offered to this chat account; its id, for the transcript line that offers it."""
    row = ChatFile(
        identity_key=identity_key, person_id=person_id, name=name, content_type=content_type, body=body, created_at=now
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def of_chat(session: Session, identity_key: str, file_id: int) -> ChatFile | None:
    """One file, only if it was offered to this chat account."""
    return session.exec(
        select(ChatFile).where(col(ChatFile.id) == file_id, col(ChatFile.identity_key) == identity_key)
    ).first()
