"""Queries behind pupils' day-before nudges and tutors' weekly digests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import (
    AdviceRecord,
    AgreedAction,
    CaseloadAssignment,
    Person,
    PersonStatus,
    Role,
    School,
    StaffRole,
)
from storage.people import active_staff, holds_role


@dataclass(frozen=True)
class DueAction:
    action_id: int
    pupil_id: int
    text: str
    due_date: date


@dataclass(frozen=True)
class DigestLine:
    pupil_id: int
    name: str
    form: str
    overdue: int
    last_conversation: datetime | None


def schools(session: Session) -> list[School]:
    return list(session.exec(select(School).order_by(col(School.id))).all())


def actions_due(session: Session, school_id: int, first: date, last: date) -> list[DueAction]:
    """Open actions a pupil owns (not a member of staff's own) due between first and last."""
    rows: Sequence[Any] = session.exec(
        select(col(AgreedAction.id), col(AgreedAction.pupil_id), col(AgreedAction.text), col(AgreedAction.due_date))
        .join(Person, col(Person.id) == col(AgreedAction.pupil_id))
        .where(
            col(Person.school_id) == school_id,
            col(Person.role) == Role.pupil.value,
            col(Person.status) == PersonStatus.active.value,
            col(AgreedAction.status) == "open",
            col(AgreedAction.owner_id).is_(None),
            col(AgreedAction.due_date) >= first,
            col(AgreedAction.due_date) <= last,
        )
        .order_by(col(AgreedAction.id))
    ).all()
    return [DueAction(aid, pid, text, due) for aid, pid, text, due in rows]


def tutors(session: Session, school_id: int) -> list[Person]:
    """Staff with a tutor group or an assigned caseload."""
    assigned = select(col(CaseloadAssignment.staff_id))
    return active_staff(session, school_id, or_(holds_role(StaffRole.tutor), col(Person.id).in_(assigned)))


def digest_lines(session: Session, tutor_id: int, today: date, quiet_since: datetime) -> list[DigestLine]:
    """The tutor's pupils with overdue actions or no conversation since `quiet_since`, in one aggregation."""
    assigned = select(col(CaseloadAssignment.pupil_id)).where(col(CaseloadAssignment.staff_id) == tutor_id)
    overdue = (
        select(col(AgreedAction.pupil_id), func.count().label("n"))
        .where(col(AgreedAction.status) == "open", col(AgreedAction.due_date) < today)
        .group_by(col(AgreedAction.pupil_id))
        .subquery()
    )
    last_talk = (
        select(col(AdviceRecord.pupil_id), func.max(col(AdviceRecord.created_at)).label("at"))
        .group_by(col(AdviceRecord.pupil_id))
        .subquery()
    )
    overdue_n = func.coalesce(overdue.c.n, 0)
    rows: Sequence[Any] = session.execute(
        sa_select(
            col(Person.id), col(Person.given_name), col(Person.family_name), col(Person.form), overdue_n, last_talk.c.at
        )
        .outerjoin(overdue, overdue.c.pupil_id == col(Person.id))
        .outerjoin(last_talk, last_talk.c.pupil_id == col(Person.id))
        .where(
            col(Person.role) == Role.pupil.value,
            col(Person.status) == PersonStatus.active.value,
            or_(col(Person.tutor_id) == tutor_id, col(Person.id).in_(assigned)),
            or_(overdue_n > 0, last_talk.c.at.is_(None), last_talk.c.at < quiet_since),
        )
        .order_by(col(Person.family_name), col(Person.given_name))
    ).all()
    return [DigestLine(pid, f"{given} {family}", form or "", int(n), at) for pid, given, family, form, n, at in rows]
