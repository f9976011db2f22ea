"""Updates a platform library could not read, kept for review in a table that never grows past `KEEP`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage import crypto
from storage.models import UnreadableUpdate

KEEP = 1_000  # the latest ones; enough to see a pattern, never enough to fill a disk
MAX_RAW = 64 * 1024  # characters of one update kept (Telegram's own are far smaller)


def keep(
    session: Session,
    platform: str,
    update_id: str,
    kind: str,
    raw: str,
    now: datetime,
    *,
    key: str | None,
    identity_key: str | None = None,
) -> bool:
    """Keep one, once per (platform, update id), its raw form encrypted (a pupil's words may be in it)
    and its sender's identity, so subject access and erasure find it; False when it was kept before."""
    seen = session.exec(
        select(UnreadableUpdate.id).where(
            UnreadableUpdate.platform == platform, UnreadableUpdate.update_id == update_id
        )
    ).first()
    if seen is not None:
        return False
    session.add(
        UnreadableUpdate(
            platform=platform,
            update_id=update_id[:64],
            kind=kind[:64],
            identity_key=identity_key,
            raw=crypto.encrypt(key, raw[:MAX_RAW]) if crypto.has_key(key) else b"",  # no key: its id and kind only
            at=now,
        )
    )
    session.flush()
    newest = select(UnreadableUpdate.id).order_by(col(UnreadableUpdate.id).desc()).limit(KEEP)
    session.exec(delete(UnreadableUpdate).where(col(UnreadableUpdate.id).not_in(newest)))  # type: ignore[call-overload]
    return True


def latest(session: Session, limit: int = 50) -> list[UnreadableUpdate]:
    return list(session.exec(select(UnreadableUpdate).order_by(col(UnreadableUpdate.id).desc()).limit(limit)).all())
