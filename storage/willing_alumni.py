"""Alumni who said they would help current pupils (talks, mentoring), with where they are now.

Only what a careers leader needs to invite them: name, leaving year, current destination and the
channels Waymark can reach them on — never the handle or address itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from storage import audit
from storage.alumni import last_destination
from storage.consents import ConsentKind, latest_ids_subquery
from storage.destinations import by_code
from storage.models import ChatIdentity, Consent, Destination, Person, Role

HELP_LIST = "list alumni who can help"  # the audit detail of each name shown


@dataclass(frozen=True)
class WillingAlumnus:
    person_id: int
    name: str
    left: date | None
    doing: str  # their current destination in plain words (its category's label), "" when none reported
    course: str
    provider: str
    channels: tuple[str, ...]  # "telegram", "slack", "web", "email": how Waymark can reach them
    sector: str = ""  # the sector they picked at the check-in, "" when they did not


def willing_alumni(session: Session, school_id: int) -> list[WillingAlumnus]:
    """Alumni of the school whose latest answer to "would you help current pupils?" is yes, by name."""
    latest = latest_ids_subquery(ConsentKind.help_pupils)
    people = session.exec(
        select(Person)
        .join(latest, latest.c.person_id == col(Person.id))
        .join(Consent, col(Consent.id) == latest.c.consent_id)
        .where(col(Person.school_id) == school_id, col(Person.role) == Role.alumnus.value, col(Consent.granted))
        .order_by(col(Person.family_name), col(Person.given_name), col(Person.id))
    ).all()
    ids = [p.id for p in people if p.id is not None]
    platforms: dict[int, set[str]] = {}
    for person_id, platform in session.exec(
        select(col(ChatIdentity.person_id), col(ChatIdentity.platform)).where(col(ChatIdentity.person_id).in_(ids))
    ):
        platforms.setdefault(person_id, set()).add(platform)
    found = []
    for person in people:
        assert person.id is not None
        now = last_destination(session, person.id)
        channels = tuple(sorted(platforms.get(person.id, set()))) + (("email",) if person.email else ())
        found.append(
            WillingAlumnus(
                person.id,
                f"{person.preferred_name or person.given_name} {person.family_name}",
                person.leaving_date,
                _plain(now) if now else "",
                now.course if now else "",
                now.provider if now else "",
                channels,
                now.sector if now else "",
            )
        )
    return found


def _plain(row: Destination) -> str:
    """The category's words, from the code: alumni answers keep the label, imports and refinements the key."""
    category = by_code(row.nccis_code)
    return category.label if category else row.category


def record_shown(
    session: Session, school_id: int, shown: list[WillingAlumnus], *, actor_id: int | None, now: datetime
) -> None:
    """Each alumnus named in the list is audited, as a staff list of pupils is."""
    audit.record_listed(
        session,
        school_id=school_id,
        actor_id=actor_id,
        subject_ids=[a.person_id for a in shown],
        now=now,
        detail=HELP_LIST,
    )
