"""One-time links (`/c/<token>`) that open an alumnus's check-in in the web chat without a code.

The check-in email carries the token; the database keeps only its SHA-256. A link belongs to one
alumnus, works once, and lasts 30 days. Wrong, used and expired links all look the same to the
person holding them, so a link reveals nothing about whom it was for.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from storage.models import CheckinLink, Person, Role

LINK_DAYS = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(session: Session, person: Person, now: datetime, days: int = LINK_DAYS) -> str:
    """A new link token for this alumnus (put it after `<public_url>/c/`)."""
    assert person.id is not None
    if person.role != Role.alumnus:
        raise ValueError("check-in links are for alumni only")
    token = secrets.token_urlsafe(24)  # 192 bits
    session.add(
        CheckinLink(token_hash=_hash(token), person_id=person.id, created_at=now, expires_at=now + timedelta(days=days))
    )
    return token


def find_valid(session: Session, token: str, now: datetime) -> tuple[CheckinLink, Person] | None:
    """The unused, unexpired link and its alumnus; None for anything else."""
    if not token or len(token) > 200:
        return None
    link = session.exec(select(CheckinLink).where(CheckinLink.token_hash == _hash(token))).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    person = session.get(Person, link.person_id)
    if person is None or person.role != Role.alumnus:
        return None
    return link, person


def claim(session: Session, link: CheckinLink, now: datetime) -> bool:
    """Use the link up; False when another request used it first.

    One conditional UPDATE: two presses of the same link at once (a double tap, two tabs) cannot
    both sign in. PostgreSQL makes the second wait for the first's row lock, then match no row.
    """
    assert link.id is not None
    result = session.exec(
        update(CheckinLink)
        .where(col(CheckinLink.id) == link.id, col(CheckinLink.used_at).is_(None))
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return False
    link.used_at = now
    return True
