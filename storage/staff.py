"""Members of staff: added (or updated) by email within their school."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from storage import audit
from storage.mis.staff_file import StaffRow
from storage.models import Person, PersonStatus, Role, StaffRole, utcnow

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StaffError(ValueError):
    """Bad input for a member of staff; the message says what to change."""


@dataclass(frozen=True)
class StaffResult:
    person: Person
    created: bool


def split_name(name: str) -> tuple[str, str]:
    """'Sam Patel' -> ('Sam', 'Patel'); 'Mary Anne de Souza' -> ('Mary Anne de', 'Souza')."""
    parts = name.split()
    if not parts:
        raise StaffError('the name is empty; write it in quotes, e.g. "Sam Patel"')
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def parse_role(role: str) -> StaffRole:
    try:
        return StaffRole(role.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in StaffRole)
        raise StaffError(f"{role!r} is not a staff role; use one of {choices}") from None


def parse_roles(roles: Sequence[str]) -> list[StaffRole]:
    """Every role named, the main one first, each once; at least one."""
    if not roles:
        raise StaffError("name at least one role, e.g. --role tutor")
    return list(dict.fromkeys(parse_role(role) for role in roles))


def roles_text(person: Person) -> str:
    """'tutor', or 'leader and dsl': the main role first."""
    others = sorted(person.staff_roles - {person.staff_role or ""})
    named = [r for r in [person.staff_role or "", *others] if r]
    return " and ".join([", ".join(named[:-1]), named[-1]]) if len(named) > 1 else "".join(named)


def add_staff(
    session: Session,
    school_id: int,
    email: str,
    name: str,
    role: str,
    *,
    also: Sequence[str] = (),
    now: datetime | None = None,
) -> StaffResult:
    """Add a member of staff, or update the name and roles of the one with this email.

    `role` is their main role; `also` the others they hold (a careers leader who is also the DSL).
    The roles given replace the ones held before."""
    now = now or utcnow()
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise StaffError(f"{email!r} is not an email address")
    given, family = split_name(name)
    staff_role, *others = parse_roles([role, *also])
    existing = session.exec(
        select(Person).where(Person.school_id == school_id, func.lower(col(Person.email)) == address)
    ).first()
    if existing is not None and existing.role != Role.staff:
        raise StaffError(f"{address} belongs to a {existing.role} at this school, not a member of staff")
    person = existing or Person(
        school_id=school_id, role=Role.staff, email=address, created_at=now, given_name="", family_name=""
    )
    roles_before = ",".join(sorted(person.staff_roles)) if existing is not None else ""
    person.given_name, person.family_name = given, family
    person.staff_role = staff_role.value
    person.other_staff_roles = ",".join(r.value for r in others)
    person.status = PersonStatus.active.value
    person.updated_at = now
    session.add(person)
    session.flush()
    roles_after = ",".join(sorted(person.staff_roles))
    if roles_after != roles_before:  # who may see which pupil changed: the audit log must say so
        assert person.id is not None
        audit.record(
            session,
            school_id=school_id,
            actor_id=None,
            action=audit.CHANGE_ROLES,
            subject_id=person.id,
            now=now,
            detail=f"cli: {roles_before or 'none'} -> {roles_after}",
        )
    return StaffResult(person, created=existing is None)


def find_by_email(session: Session, school_id: int, email: str) -> Person | None:
    return session.exec(
        select(Person).where(Person.school_id == school_id, func.lower(col(Person.email)) == email.strip().lower())
    ).first()


@dataclass
class StaffImport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def import_staff(
    session: Session, school_id: int, rows: Sequence[StaffRow], *, now: datetime | None = None
) -> StaffImport:
    """Add or update every member of staff in a checked staff file, by email: importing the same
    file again changes nothing. StaffError when an email belongs to a pupil or alumnus."""
    result = StaffImport()
    for row in rows:
        before = find_by_email(session, school_id, row.email)
        was = (before.full_name, before.staff_role, before.other_staff_roles, before.status) if before else None
        try:
            person = add_staff(
                session, school_id, row.email, row.name, row.roles[0], also=row.roles[1:], now=now
            ).person
        except StaffError as exc:
            raise StaffError(f"line {row.line}: {exc}") from None
        if was is None:
            result.added += 1
        elif was == (person.full_name, person.staff_role, person.other_staff_roles, person.status):
            result.unchanged += 1
        else:
            result.updated += 1
    return result
