"""The audit log: every staff read of a pupil's record and every safeguarding step, written in the transaction of the act."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import AuditEvent

VIEW_PUPIL = "view_pupil"
LIST_PUPILS = "list_pupils"  # a pupil named, with their flags, in a staff list (caseload, needs attention)
# Safeguarding: a concern raised, and each thing a DSL does with one (subject: the pupil it is about).
RAISE_CONCERN = "raise_concern"
OPEN_CONCERN = "open_concern"
ACK_CONCERN = "ack_concern"
NOTE_CONCERN = "note_concern"
CLOSE_CONCERN = "close_concern"
# Subject access: the school's full export (waymark export-person), and a person's own copy (/export).
EXPORT_RECORD = "export_record"
EXPORT_OWN_RECORD = "export_own_record"
CHANGE_ROLES = "change_roles"  # a member of staff's roles set (subject: them)
UNLINK = "unlink"  # a chat account disconnected by its owner (/unlink); "unlink_all" by `waymark unlink`


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


def record_listed(
    session: Session, *, school_id: int, actor_id: int | None, subject_ids: list[int], now: datetime, detail: str
) -> None:
    """One event per pupil a staff list showed, so "who has seen this pupil" includes lists."""
    for subject_id in dict.fromkeys(subject_ids):
        record(
            session,
            school_id=school_id,
            actor_id=actor_id,
            action=LIST_PUPILS,
            subject_id=subject_id,
            now=now,
            detail=detail,
        )


def events_about(session: Session, subject_id: int, action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.subject_id == subject_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.exec(query.order_by(col(AuditEvent.id))).all())
