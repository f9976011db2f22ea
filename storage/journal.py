"""What a pupil writes about themselves: journal entries, encounters, interests, next step, applications.

Text is stored exactly as typed; showing it safely is the adapters' job.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from storage.models import Application, JournalEntry, Person, School

# The Skills Builder Partnership's eight essential skills: the framework unless a school sets its own.
DEFAULT_SKILLS = (
    "Listening",
    "Speaking",
    "Problem Solving",
    "Creativity",
    "Staying Positive",
    "Aiming High",
    "Leadership",
    "Teamwork",
)

APPLICATION_STATUSES = ("planning", "applied", "offer", "accepted", "rejected")


def skills_framework(school: School | None) -> list[str]:
    """The school's skills (its comma list, duplicates dropped) or the default eight."""
    names: list[str] = []
    for raw in (school.skills if school else "").split(","):
        name = raw.strip()
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return names or list(DEFAULT_SKILLS)


# A plain INSERT, not the ORM's unit of work: journal entries are the commonest write, and nothing
# reads the new row back in the same step.
_ADD_ENTRY = insert(JournalEntry.__table__)  # type: ignore[attr-defined]


def add_reflection(
    session: Session, person_id: int, text: str, now: datetime, *, skills: list[str] | None = None, learned: str = ""
) -> int:
    """Saves the entry; its id, so skills and what next can be added to it afterwards."""
    result = session.connection().execute(
        _ADD_ENTRY,
        {
            "person_id": person_id,
            "kind": "reflection",
            "text": text,
            "skills": ",".join(skills or []),
            "learned": learned,
            "encounter_type": None,
            "encounter_with": None,
            "created_at": now,
        },
    )
    (entry_id,) = result.inserted_primary_key or (None,)
    assert entry_id is not None
    return int(entry_id)


def update_reflection(
    session: Session, person_id: int, entry_id: int, *, skills: list[str] | None = None, learned: str | None = None
) -> bool:
    """Skills or what next added to a pupil's own saved reflection; False when it is not theirs (or gone)."""
    entry = session.get(JournalEntry, entry_id)
    if entry is None or entry.person_id != person_id or entry.kind != "reflection":
        return False
    if skills is not None:
        entry.skills = ",".join(skills)
    if learned is not None:
        entry.learned = learned
    session.add(entry)
    session.flush()
    return True


def add_encounter(
    session: Session, person_id: int, encounter_type: str, with_whom: str, reflection: str, now: datetime
) -> None:
    session.connection().execute(
        _ADD_ENTRY,
        {
            "person_id": person_id,
            "kind": "encounter",
            "text": reflection,
            "skills": "",
            "learned": "",
            "encounter_type": encounter_type,
            "encounter_with": with_whom,
            "created_at": now,
        },
    )


def count_entries(session: Session, person_id: int) -> int:
    return session.exec(select(func.count()).select_from(JournalEntry).where(JournalEntry.person_id == person_id)).one()


def set_interests(session: Session, person: Person, interests: str, now: datetime) -> None:
    person.interests = interests
    person.updated_at = now
    session.add(person)


def set_interest_sectors(session: Session, person: Person, keys: list[str], now: datetime) -> None:
    """The sectors a pupil picked as buttons, comma-separated keys of reports.sectors."""
    person.interest_sectors = ",".join(keys)
    person.updated_at = now
    session.add(person)


def set_next_step(session: Session, person: Person, next_step: str | None, now: datetime) -> None:
    person.next_step = next_step
    person.next_step_at = now if next_step else None
    person.updated_at = now
    session.add(person)


def applications_of(session: Session, person_id: int) -> list[Application]:
    return list(
        session.exec(
            select(Application)
            .where(Application.person_id == person_id)
            .order_by(col(Application.created_at), col(Application.id))
        ).all()
    )


def add_application(
    session: Session, person_id: int, provider: str, course: str, status: str, now: datetime
) -> Application:
    if status not in APPLICATION_STATUSES:
        raise ValueError(f"unknown application status {status!r}")
    row = Application(
        person_id=person_id, provider=provider, course=course, status=status, created_at=now, updated_at=now
    )
    session.add(row)
    session.flush()
    return row


def application_of(session: Session, person_id: int, application_id: int) -> Application | None:
    """The application only if it belongs to this person: button data can be forged."""
    return session.exec(
        select(Application).where(Application.id == application_id, Application.person_id == person_id)
    ).first()


def set_application_status(
    session: Session, person_id: int, application_id: int, status: str, now: datetime
) -> Application | None:
    if status not in APPLICATION_STATUSES:
        raise ValueError(f"unknown application status {status!r}")
    row = application_of(session, person_id, application_id)
    if row is None:
        return None
    row.status = status
    row.updated_at = now
    session.add(row)
    return row
