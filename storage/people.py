"""Finding people: for the administrator's commands (`waymark codes`, `waymark chat --as`) and the staff to tell."""

from __future__ import annotations

from sqlalchemy import ColumnElement, literal, or_
from sqlmodel import Session, col, func, select

from storage.models import Person, PersonStatus, Role, School, StaffRole


def by_upn_or_email(session: Session, key: str, school_id: int | None = None) -> list[Person]:
    """Everyone whose UPN or email is `key` (any case); more than one only across schools."""
    wanted = key.strip()
    query = select(Person).where(
        (func.upper(col(Person.upn)) == wanted.upper()) | (func.lower(col(Person.email)) == wanted.lower())
    )
    if school_id is not None:
        query = query.where(Person.school_id == school_id)
    return list(session.exec(query.order_by(col(Person.id))).all())


def holds_role(role: StaffRole) -> ColumnElement[bool]:
    """Staff who hold `role`, as their main role or among their others (a careers leader who is also the DSL).

    The other roles are a comma-separated list; wrapping it in commas matches whole names only."""
    others = literal(",") + func.replace(col(Person.other_staff_roles), " ", "") + literal(",")
    return or_(col(Person.staff_role) == role.value, others.like(f"%,{role.value},%"))


def active_staff(session: Session, school_id: int, *narrower: ColumnElement[bool]) -> list[Person]:
    """The school's active staff who also meet `narrower` (a staff role, a caseload...), oldest record first."""
    return list(
        session.exec(
            select(Person)
            .where(
                col(Person.school_id) == school_id,
                col(Person.role) == Role.staff.value,
                col(Person.status) == PersonStatus.active.value,
                *narrower,
            )
            .order_by(col(Person.id))
        ).all()
    )


def for_codes(session: Session, school_id: int, role: str, form: str | None = None) -> list[Person]:
    """People who should get an enrolment code: pupils on roll (one form, or all), or active staff."""
    query = select(Person).where(Person.school_id == school_id, Person.role == role)
    if role in (Role.pupil.value, Role.staff.value):
        query = query.where(Person.status == PersonStatus.active.value)
    if form:
        query = query.where(func.upper(col(Person.form)) == form.strip().upper())
    return list(
        session.exec(
            query.order_by(col(Person.year_group), col(Person.form), col(Person.family_name), col(Person.given_name))
        ).all()
    )


def schools_without(session: Session, role: StaffRole) -> list[School]:
    """Schools where no active member of staff holds `role` (e.g. no safeguarding lead)."""
    holders = select(col(Person.school_id)).where(
        col(Person.role) == Role.staff.value, col(Person.status) == PersonStatus.active.value, holds_role(role)
    )
    return list(session.exec(select(School).where(col(School.id).not_in(holders)).order_by(col(School.id))).all())
