"""Builders for the people a test needs, written straight to the database through storage."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import Engine

from storage import codes, identities
from storage.db import transaction
from storage.models import Person, Role, School, StaffRole, utcnow

_upn = itertools.count(1)


def school(engine: Engine, name: str = "Test Academy") -> School:
    with transaction(engine) as session:
        row = School(name=name)
        session.add(row)
        session.flush()
        return row


def pupil(
    engine: Engine,
    school_id: int,
    given: str = "Amira",
    family: str = "Khan",
    *,
    year_group: int = 11,
    form: str = "11A",
    dob: date | None = date(2010, 3, 14),
    tutor_id: int | None = None,
    **extra: object,
) -> Person:
    with transaction(engine) as session:
        row = Person(
            school_id=school_id,
            role=Role.pupil,
            upn=f"T{next(_upn):012d}",
            given_name=given,
            family_name=family,
            year_group=year_group,
            form=form,
            date_of_birth=dob,
            tutor_id=tutor_id,
            **extra,  # type: ignore[arg-type]
        )
        session.add(row)
        session.flush()
        return row


def staff(
    engine: Engine, school_id: int, given: str = "Sam", family: str = "Patel", *, role: StaffRole = StaffRole.tutor
) -> Person:
    with transaction(engine) as session:
        row = Person(
            school_id=school_id,
            role=Role.staff,
            staff_role=role,
            email=f"{given.lower()}.{family.lower()}@school.example",
            given_name=given,
            family_name=family,
        )
        session.add(row)
        session.flush()
        return row


def code_for(engine: Engine, person: Person, days: int = 30) -> str:
    with transaction(engine) as session:
        return codes.issue(session, person, days=days).code


def link(engine: Engine, person: Person, platform: str, user_id: str) -> None:
    with transaction(engine) as session:
        identities.link(session, person, platform, user_id, user_id, utcnow())
