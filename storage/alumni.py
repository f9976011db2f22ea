"""What alumni tell us: their destination each year after leaving, and who at school hears about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import AgreedAction, Destination, Person, StaffRole
from storage.people import active_staff, holds_role


@dataclass(frozen=True)
class NewDestination:
    year_after_leaving: int
    category: str
    nccis_code: int
    group: str
    provider: str = ""
    course: str = ""


def last_destination(session: Session, person_id: int, before_year: int | None = None) -> Destination | None:
    """The most recent destination reported (before a given year after leaving, when given)."""
    query = select(Destination).where(col(Destination.person_id) == person_id)
    if before_year is not None:
        query = query.where(col(Destination.year_after_leaving) < before_year)
    return session.exec(
        query.order_by(col(Destination.year_after_leaving).desc(), col(Destination.id).desc()).limit(1)
    ).first()


def destinations_of(session: Session, person_id: int) -> list[Destination]:
    """Every destination recorded for a former pupil, first year after leaving first."""
    query = select(Destination).where(col(Destination.person_id) == person_id)
    return list(session.exec(query.order_by(col(Destination.year_after_leaving), col(Destination.id))).all())


def answer_for_year(session: Session, person_id: int, year_after_leaving: int) -> Destination | None:
    """The alumnus's own answer for that year after leaving, if they have given one."""
    return session.exec(
        select(Destination).where(
            col(Destination.person_id) == person_id,
            col(Destination.year_after_leaving) == year_after_leaving,
            col(Destination.source) == "alumnus",
        )
    ).first()


def save_destination(session: Session, person_id: int, new: NewDestination, now: datetime) -> Destination:
    """The alumnus's own answer for a year; a second answer the same year replaces their first."""
    row = answer_for_year(session, person_id, new.year_after_leaving) or Destination(
        person_id=person_id, year_after_leaving=new.year_after_leaving, category="", nccis_code=0, group=""
    )
    row.category = new.category
    row.nccis_code = new.nccis_code
    row.group = new.group
    row.provider = new.provider
    row.course = new.course
    row.reported_at = now
    row.source = "alumnus"
    session.add(row)
    session.flush()
    return row


def careers_leaders(session: Session, school_id: int) -> list[Person]:
    return active_staff(session, school_id, holds_role(StaffRole.leader))


def add_leader_action(
    session: Session, alumnus_id: int, owner_id: int | None, text: str, now: datetime
) -> AgreedAction:
    row = AgreedAction(pupil_id=alumnus_id, owner_id=owner_id, text=text, created_at=now)
    session.add(row)
    session.flush()
    return row


def email_in_use(session: Session, school_id: int, email: str, person_id: int) -> bool:
    """Whether someone else at the school already has this address (the column is unique per school)."""
    return (
        session.exec(
            select(Person.id).where(
                col(Person.school_id) == school_id, col(Person.email) == email, col(Person.id) != person_id
            )
        ).first()
        is not None
    )
