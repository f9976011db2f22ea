"""Chat accounts linked to people, and the lockout for wrong enrolment codes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import ChatIdentity, LinkAttempt, Person, School

MAX_WRONG_CODES = 5
LOCKOUT = timedelta(minutes=15)
# Wrong codes count towards the lockout only within this window from the first of them: a few
# typos spread over weeks never add up to a lockout.
FAILURE_WINDOW = timedelta(minutes=15)


def find(session: Session, platform: str, external_id: str) -> ChatIdentity | None:
    return session.exec(
        select(ChatIdentity).where(ChatIdentity.platform == platform, ChatIdentity.external_id == external_id)
    ).first()


# Built once: this runs for every message, and building the statement cost more than running it.
_PERSON_AND_SCHOOL = (
    select(Person, School)
    .join(ChatIdentity, col(ChatIdentity.person_id) == col(Person.id))
    .join(School, col(School.id) == col(Person.school_id))
    .where(ChatIdentity.platform == bindparam("platform"), ChatIdentity.external_id == bindparam("external_id"))
)


def person_and_school(session: Session, platform: str, external_id: str) -> tuple[Person | None, School | None]:
    """Who this chat account is linked to, and their school, in one query (it runs for every message)."""
    row = session.exec(_PERSON_AND_SCHOOL, params={"platform": platform, "external_id": external_id}).first()
    return (row[0], row[1]) if row else (None, None)


def person_for(session: Session, platform: str, external_id: str) -> Person | None:
    identity = find(session, platform, external_id)
    return session.get(Person, identity.person_id) if identity else None


def link(
    session: Session, person: Person, platform: str, external_id: str, chat_id: str, now: datetime
) -> ChatIdentity:
    assert person.id is not None
    identity = ChatIdentity(
        platform=platform, external_id=external_id, chat_id=chat_id, person_id=person.id, linked_at=now
    )
    session.add(identity)
    return identity


def delete(session: Session, identity: ChatIdentity) -> None:
    """Remove one link between a chat account and a person (handlers.linking.unlink says what else goes)."""
    session.delete(identity)


def identities_of(session: Session, person_id: int) -> list[ChatIdentity]:
    return list(session.exec(select(ChatIdentity).where(ChatIdentity.person_id == person_id)).all())


def mark_unreachable(session: Session, platform: str, chat_id: str, reason: str, now: datetime) -> int:
    """Blocked the bot, chat not found...: the outbox stops trying this account."""
    rows = session.exec(
        select(ChatIdentity).where(ChatIdentity.platform == platform, ChatIdentity.chat_id == chat_id)
    ).all()
    for identity in rows:
        identity.unreachable_at = now
        identity.unreachable_reason = reason
        session.add(identity)
    return len(rows)


def _attempt(session: Session, platform: str, key: str) -> LinkAttempt:
    row = session.exec(
        select(LinkAttempt).where(LinkAttempt.platform == platform, LinkAttempt.external_id == key)
    ).first()
    return row or LinkAttempt(platform=platform, external_id=key)


def locked_until(session: Session, platform: str, key: str, now: datetime) -> datetime | None:
    """When the lockout for this account (or web client) ends, if it is locked now."""
    row = _attempt(session, platform, key)
    if row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def recent_wrong_codes(session: Session, platform: str, key: str, now: datetime) -> int:
    """Wrong codes counted against this key in the current FAILURE_WINDOW (0 once it is over)."""
    row = _attempt(session, platform, key)
    if row.first_failure_at is None or now - row.first_failure_at >= FAILURE_WINDOW:
        return 0
    return row.failures


def record_wrong_code(session: Session, platform: str, key: str, now: datetime, limit: int = MAX_WRONG_CODES) -> bool:
    """Count a wrong code; True when this one locks the account (or web browser or address) out.

    `limit` is how many wrong codes within FAILURE_WINDOW lock it: a chat account's 5 unless the
    caller says otherwise (the web chat gives a whole school's shared address more)."""
    row = _attempt(session, platform, key)
    locked_now = row.locked_until is not None and row.locked_until > now
    lockout_over = row.locked_until is not None and row.locked_until <= now
    window_over = row.first_failure_at is None or now - row.first_failure_at >= FAILURE_WINDOW
    if not locked_now and (lockout_over or window_over):
        # Start counting again from this failure.
        row.failures = 0
        row.first_failure_at = now
        row.locked_until = None
    row.failures += 1
    locked = row.failures >= limit
    if locked:
        row.locked_until = now + LOCKOUT
    session.add(row)
    return locked


def clear_wrong_codes(session: Session, platform: str, key: str) -> None:
    row = _attempt(session, platform, key)
    if row.id is not None:
        session.delete(row)
