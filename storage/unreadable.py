"""Updates a platform library could not read, kept for review in a table that never grows past `KEEP`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import UnreadableUpdate

KEEP = 1_000  # the latest ones; enough to see a pattern, never enough to fill a disk
MAX_RAW = 64 * 1024  # characters of one update kept (Telegram's own are far smaller)


def keep(session: Session, platform: str, update_id: str, kind: str, raw: str, now: datetime) -> bool:
    """Keep one, once per (platform, update id); False when it was kept before."""
    seen = session.exec(
        select(UnreadableUpdate.id).where(
            UnreadableUpdate.platform == platform, UnreadableUpdate.update_id == update_id
        )
    ).first()
    if seen is not None:
        return False
    session.add(
        UnreadableUpdate(platform=platform, update_id=update_id[:64], kind=kind[:64], raw=raw[:MAX_RAW], at=now)
    )
    session.flush()
    newest = select(UnreadableUpdate.id).order_by(col(UnreadableUpdate.id).desc()).limit(KEEP)
    session.exec(delete(UnreadableUpdate).where(col(UnreadableUpdate.id).not_in(newest)))  # type: ignore[call-overload]
    return True


def latest(session: Session, limit: int = 50) -> list[UnreadableUpdate]:
    return list(session.exec(select(UnreadableUpdate).order_by(col(UnreadableUpdate.id).desc()).limit(limit)).all())
