"""The audit log: every staff read of a pupil's record, written in the transaction of the read."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import AuditEvent

VIEW_PUPIL = "view_pupil"


def record(
    session: Session,
    *,
    school_id: int,
    actor_id: int | None,
    action: str,
    subject_id: int | None,
    now: datetime,
    detail: str = "",
) -> AuditEvent:
    event = AuditEvent(
        school_id=school_id, actor_id=actor_id, action=action, subject_id=subject_id, detail=detail, at=now
    )
    session.add(event)
    return event


def events_about(session: Session, subject_id: int, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.subject_id == subject_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.exec(query.order_by(col(AuditEvent.id))).all())
