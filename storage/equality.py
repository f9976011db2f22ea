"""The rows the equality lens classifies: each pupil's typed interests and each alumnus's current course.

Sectors come from free text by keyword rules (`reports.sectors`), which SQL cannot apply, so these
queries return one short row per person (breakdown value, text) and nothing else about them.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from storage.models import Destination, Person, PersonStatus, Role
from storage.reports import POSITIVE_GROUPS, Breakdown, _breakdown_column, _rows


def pupil_interests(session: Session, school_id: int, by: Breakdown) -> list[tuple[str, str, str]]:
    """(breakdown value, typed interests, picked sector keys) of pupils on roll who gave either."""
    query = sa_select(_breakdown_column(by), col(Person.interests), col(Person.interest_sectors)).where(
        col(Person.school_id) == school_id,
        col(Person.role) == Role.pupil.value,
        col(Person.status).not_in([PersonStatus.left.value, PersonStatus.missing.value]),
        (func.trim(col(Person.interests)) != "") | (col(Person.interest_sectors) != ""),
    )
    return [(str(v or ""), str(text), str(keys)) for v, text, keys in _rows(session, query)]


def alumni_courses(session: Session, school_id: int, by: Breakdown, year_after_leaving: int) -> list[tuple[str, str]]:
    """(breakdown value, "course provider") of alumni whose latest destination that year is education,
    employment or training: the text their sector is read from."""
    latest = (
        sa_select(
            col(Destination.person_id),
            _breakdown_column(by),
            col(Destination.group),
            col(Destination.course),
            col(Destination.provider),
        )
        .select_from(Person)
        .join(Destination, col(Destination.person_id) == col(Person.id))
        .where(
            col(Person.school_id) == school_id,
            col(Person.role) == Role.alumnus.value,
            col(Destination.year_after_leaving) == year_after_leaving,
        )
        .order_by(col(Destination.reported_at), col(Destination.id))
    )
    counted: dict[int, tuple[str, str, str]] = {}
    for person_id, value, group, course, provider in _rows(session, latest):
        counted[person_id] = (str(value or ""), str(group), f"{course} {provider}".strip())  # oldest first: last holds
    return [(value, text) for value, group, text in counted.values() if group in POSITIVE_GROUPS]
