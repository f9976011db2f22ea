"""Advice records and the actions agreed in them; a pupil's whole record as staff see it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from storage.models import AdviceRecord, AgreedAction, Application, JournalEntry


@dataclass(frozen=True)
class NewAction:
    text: str
    due_date: date | None = None


def save(
    session: Session,
    *,
    pupil_id: int,
    staff_id: int,
    kind: str,
    summary: str,
    staff_note: bytes | None,
    actions: Sequence[NewAction],
    now: datetime,
) -> AdviceRecord:
    """Write the record and its actions; the caller's transaction commits them with the pupil's notification."""
    record = AdviceRecord(
        pupil_id=pupil_id, staff_id=staff_id, kind=kind, summary=summary, staff_note=staff_note, created_at=now
    )
    session.add(record)
    session.flush()  # the id names the actions and the outbox key
    for action in actions:
        session.add(
            AgreedAction(
                pupil_id=pupil_id, advice_id=record.id, text=action.text, due_date=action.due_date, created_at=now
            )
        )
    return record


def records_for(session: Session, pupil_id: int, limit: int = 10) -> list[AdviceRecord]:
    return list(
        session.exec(
            select(AdviceRecord)
            .where(AdviceRecord.pupil_id == pupil_id)
            .order_by(col(AdviceRecord.created_at).desc(), col(AdviceRecord.id).desc())
            .limit(limit)
        ).all()
    )


def actions_for(session: Session, pupil_id: int, limit: int = 30) -> list[AgreedAction]:
    """Open actions first (soonest due first), then done ones, newest first."""
    return list(
        session.exec(
            select(AgreedAction)
            .where(AgreedAction.pupil_id == pupil_id)
            .order_by(
                col(AgreedAction.status).desc(),  # "open" sorts after "done": descending puts it first
                col(AgreedAction.due_date).is_(None),
                col(AgreedAction.due_date),
                col(AgreedAction.created_at).desc(),
            )
            .limit(limit)
        ).all()
    )


def journal_for(session: Session, pupil_id: int, limit: int = 5) -> list[JournalEntry]:
    return list(
        session.exec(
            select(JournalEntry)
            .where(JournalEntry.person_id == pupil_id)
            .order_by(col(JournalEntry.created_at).desc(), col(JournalEntry.id).desc())
            .limit(limit)
        ).all()
    )


def applications_for(session: Session, pupil_id: int) -> list[Application]:
    return list(
        session.exec(
            select(Application).where(Application.person_id == pupil_id).order_by(col(Application.created_at))
        ).all()
    )
