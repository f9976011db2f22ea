"""One-time enrolment codes: easy to type on a phone, unguessable, single-use, stored only as a keyed hash.

The hash is an HMAC-SHA256 under WAYMARK_CODE_SECRET ("h1:" + hex), so a copy of the database alone
does not let anyone try every code offline. Codes issued before that were stored as plain SHA-256
hex; they keep working until they expire (at most a year), then retention removes them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from storage.models import EnrolmentCode, Person, utcnow

# No 0/O, 1/I/l: 31 symbols. Ten of them carry 10 * log2(31) = 49.5 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
DEFAULT_DAYS = 30


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise(code: str) -> str:
    """What people type: any case, with or without spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


KEYED_PREFIX = "h1:"


def new_secret() -> str:
    """A WAYMARK_CODE_SECRET for `waymark init`."""
    return secrets.token_urlsafe(32)


def code_hash(code: str, secret: str | None) -> str:
    """What is stored for a code: keyed when a secret is set (always, once `waymark init` has run)."""
    if not secret:
        return legacy_hash(code)
    return KEYED_PREFIX + hmac.new(secret.encode(), normalise(code).encode(), hashlib.sha256).hexdigest()


def legacy_hash(code: str) -> str:
    """How codes were stored before WAYMARK_CODE_SECRET: still looked up, so they work until they expire."""
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def pretty(code: str) -> str:
    """Shown as XXXXX-XXXXX; the dash is optional when typed."""
    return f"{code[:5]}-{code[5:]}"


@dataclass(frozen=True)
class IssuedCode:
    person: Person
    code: str
    expires_at: datetime


def issue(
    session: Session,
    person: Person,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
    secret: str | None = None,
) -> IssuedCode:
    """A new code for this person; their older unused codes stop working."""
    now = now or utcnow()
    assert person.id is not None
    session.exec(
        update(EnrolmentCode)
        .where(col(EnrolmentCode.person_id) == person.id)
        .where(col(EnrolmentCode.used_at).is_(None))
        .where(col(EnrolmentCode.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    code = new_code()
    expires = now + timedelta(days=days)
    session.add(
        EnrolmentCode(person_id=person.id, code_hash=code_hash(code, secret), created_at=now, expires_at=expires)
    )
    return IssuedCode(person=person, code=code, expires_at=expires)


def find_valid(
    session: Session, code: str, *, now: datetime | None = None, secret: str | None = None
) -> EnrolmentCode | None:
    """The usable code row for what was typed, or None for wrong, used, revoked or expired."""
    now = now or utcnow()
    if not code.strip():
        return None
    hashes = {code_hash(code, secret), legacy_hash(code)}
    row = session.exec(select(EnrolmentCode).where(col(EnrolmentCode.code_hash).in_(hashes))).first()
    if row is None or row.used_at is not None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def claim(session: Session, row: EnrolmentCode, *, now: datetime | None = None) -> bool:
    """Use the code up; False when another transaction used (or revoked) it first.

    One conditional UPDATE, so two people redeeming the same code at once cannot both win: on
    PostgreSQL the second waits for the first's row lock, then finds `used_at` set and matches no
    row; SQLite takes one writer at a time.
    """
    assert row.id is not None
    used_at = now or utcnow()
    result = session.exec(
        update(EnrolmentCode)
        .where(col(EnrolmentCode.id) == row.id)
        .where(col(EnrolmentCode.used_at).is_(None))
        .where(col(EnrolmentCode.revoked_at).is_(None))
        .values(used_at=used_at)
    )
    if result.rowcount != 1:
        return False
    row.used_at = used_at  # the loaded row agrees with the database
    return True
