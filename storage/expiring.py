"""Small tables whose rows say when they stop mattering (`expires_at`), shared by every process:
an insert that ignores a row another process made a moment before, and the housekeeping delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

BATCH = 5000


def insert(session: Session, model: type[SQLModel]) -> Any:
    """The dialect's own INSERT, which has ON CONFLICT (SQLAlchemy's generic one does not)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def prune(session: Session, model: type[SQLModel], now: datetime, batch: int = BATCH) -> int:
    """Delete up to `batch` rows whose `expires_at` has passed (by id: one short statement)."""
    table = model.__table__  # type: ignore[attr-defined]
    old = sa_select(table.c.id).where(table.c.expires_at < now).limit(batch).scalar_subquery()
    result = session.connection().execute(sa_delete(table).where(table.c.id.in_(old)))
    return int(result.rowcount or 0)
