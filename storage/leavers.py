"""Leavers: pupils about to leave (asked once about yearly messages) and pupils who have left (alumni)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from sqlalchemy import exists, update
from sqlmodel import Session, col, select

from storage.consents import ConsentKind
from storage.models import ChatIdentity, Consent, Person, PersonStatus, Role


def graduate(session: Session, today: date, now: datetime) -> int:
    """Pupils whose leaving date has passed become alumni; returns how many. Safe to repeat."""
    result = session.exec(  # type: ignore[call-overload]
        update(Person)
        .where(
            col(Person.role) == Role.pupil.value,
            col(Person.leaving_date).is_not(None),
            col(Person.leaving_date) < today,
        )
        .values(role=Role.alumnus.value, status=PersonStatus.left.value, updated_at=now)
    )
    return int(result.rowcount or 0)


def _no_answer():  # type: ignore[no-untyped-def]
    answered = exists().where(
        col(Consent.person_id) == col(Person.id), col(Consent.kind) == ConsentKind.yearly_checkin.value
    )
    return ~answered


def to_invite(session: Session, first: date, last: date, batch: int = 500) -> Iterator[Person]:
    """Pupils on roll leaving between `first` and `last` who have not answered the consent question."""
    query = (
        select(Person)
        .where(
            col(Person.role) == Role.pupil.value,
            col(Person.status) == PersonStatus.active.value,
            col(Person.leaving_date) >= first,
            col(Person.leaving_date) <= last,
            _no_answer(),
        )
        .order_by(col(Person.id))
        .execution_options(yield_per=batch)
    )
    yield from session.exec(query)


def unanswered(session: Session, school_id: int, first: date, last: date) -> list[Person]:
    """Leavers (still on roll or already left) with a leaving date in [first, last] and no answer yet."""
    return list(
        session.exec(
            select(Person)
            .where(
                col(Person.school_id) == school_id,
                col(Person.role).in_([Role.pupil.value, Role.alumnus.value]),
                col(Person.leaving_date) >= first,
                col(Person.leaving_date) <= last,
                _no_answer(),
            )
            .order_by(col(Person.leaving_date), col(Person.family_name), col(Person.given_name))
        ).all()
    )


def with_chat_account(session: Session, person_ids: list[int]) -> set[int]:
    """Which of these people have at least one linked chat account."""
    if not person_ids:
        return set()
    rows = session.exec(
        select(ChatIdentity.person_id).where(col(ChatIdentity.person_id).in_(person_ids)).distinct()
    ).all()
    return set(rows)
