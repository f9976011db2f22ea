"""The young people a local authority tracks, and the activities it sends back (source "la_import").

In the LA's interest: former pupils and sixth formers up to their 19th birthday, or their 25th with
an EHC plan (the ages LAs track, Education and Skills Act 2008). Their current activity is their most
recently reported destination (an LA report, a staff refinement or their own answer, whichever came
last); a sixth former on roll is in school sixth form (210); an alumnus with nothing is not known (810).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlmodel import Session, col, select

from core.calendar import school_year_start
from storage import audit
from storage.destinations import NOT_KNOWN, by_code, group_of
from storage.models import Destination, Person, PersonStatus, Role, School

SIXTH_FORM = 210
EXPORT_NCCIS = "export_nccis"  # audit: each young person in the file
IMPORT_LA = "import_la_destinations"  # audit: each alumnus the LA's file updated


@dataclass(frozen=True)
class Tracked:
    person: Person
    code: int
    provider: str
    ascertained: date | None


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def in_la_interest(person: Person, today: date) -> bool:
    if person.date_of_birth is None:
        return False
    if person.role == Role.pupil and (person.year_group or 0) < 12:
        return False
    return age_on(person.date_of_birth, today) < (25 if person.send == "E" else 19)


def tracked(session: Session, school: School, today: date) -> list[Tracked]:
    """Each young person in the LA's interest with their current activity, by UPN."""
    assert school.id is not None
    people = session.exec(
        select(Person)
        .where(
            col(Person.school_id) == school.id,
            col(Person.upn).is_not(None),
            (col(Person.role) == Role.alumnus.value)
            | ((col(Person.role) == Role.pupil.value) & (col(Person.status) == PersonStatus.active.value)),
        )
        .order_by(col(Person.upn))
    ).all()
    chosen = [p for p in people if in_la_interest(p, today)]
    latest: dict[int, Destination] = {}
    ids = [p.id for p in chosen if p.role == Role.alumnus]
    for row in session.exec(
        select(Destination)
        .where(col(Destination.person_id).in_(ids))
        .order_by(col(Destination.year_after_leaving), col(Destination.reported_at), col(Destination.id))
    ):
        latest[row.person_id] = row  # oldest first: the last one is the current activity
    found = []
    for p in chosen:
        assert p.id is not None
        if p.role == Role.pupil:
            found.append(Tracked(p, SIXTH_FORM, school.name, None))
        elif (now := latest.get(p.id)) is not None:
            found.append(Tracked(p, now.nccis_code, now.provider, now.reported_at.date()))
        else:
            found.append(Tracked(p, NOT_KNOWN, "", None))
    return found


def year_after_leaving(left: date, ascertained: date) -> int:
    """Which year after leaving a date falls in: school years since the one they left in (at least 1)."""
    return max(1, school_year_start(ascertained).year - school_year_start(left).year)


@dataclass(frozen=True)
class LaActivity:
    upn: str
    code: int
    provider: str
    ascertained: date


def record_la(
    session: Session, school_id: int, activities: Sequence[LaActivity], now: datetime
) -> tuple[int, list[str]]:
    """Each activity as the LA's report for that alumnus's year; the UPNs that are not our alumni.

    Reported at the date the LA ascertained it, so the latest report wins whoever made it.
    """
    upns = [a.upn for a in activities]
    alumni = {
        p.upn: p
        for p in session.exec(
            select(Person).where(
                col(Person.school_id) == school_id, col(Person.upn).in_(upns), col(Person.role) == Role.alumnus.value
            )
        )
    }
    added, unknown, touched = 0, [], []
    for a in activities:
        person = alumni.get(a.upn)
        if person is None or person.id is None or person.leaving_date is None:
            unknown.append(a.upn)
            continue
        category = by_code(a.code)
        session.add(
            Destination(
                person_id=person.id,
                year_after_leaving=year_after_leaving(person.leaving_date, a.ascertained),
                category=category.key if category else "",
                nccis_code=a.code,
                group=group_of(a.code),
                provider=a.provider,
                reported_at=datetime.combine(a.ascertained, time(12), UTC),
                source="la_import",
            )
        )
        touched.append(person.id)
        added += 1
    audit.record_listed(session, school_id=school_id, actor_id=None, subject_ids=touched, now=now, detail=IMPORT_LA)
    session.flush()
    return added, unknown
