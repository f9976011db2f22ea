"""Finding the school a command works on: each person belongs to exactly one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.models import School


@dataclass(frozen=True)
class SchoolChoice:
    school: School
    created: bool


def school_named(session: Session, name: str) -> SchoolChoice:
    """The school with this name (case-insensitive), created when there is none yet."""
    wanted = name.strip()
    if not wanted:
        raise ValueError("a school needs a name")
    for school in session.exec(select(School).order_by(col(School.id))).all():
        if school.name.casefold() == wanted.casefold():
            return SchoolChoice(school, created=False)
    school = School(name=wanted)
    session.add(school)
    session.flush()
    return SchoolChoice(school, created=True)


def all_schools(session: Session) -> list[School]:
    return list(session.exec(select(School).order_by(col(School.id))).all())
