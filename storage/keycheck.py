"""The key check: the database remembers which encryption key it is written with (storage.models.KeyCheck).

A process with a different key, or none, is stopped before it writes anything, so one database
never ends up with notes under two keys. During `waymark rotate-key` the database's key may be the
current one or one of the previous ones.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.keyring import Keyring
from storage import crypto
from storage.encrypted import COLUMNS
from storage.models import KeyCheck, utcnow

ROW_ID = 1

NO_KEY = (
    "WAYMARK_ENCRYPTION_KEY is not set. Run `waymark init` to write one to .env, or set the key this "
    "database was written with (from your backup)."
)
WRONG_KEY = (
    "WAYMARK_ENCRYPTION_KEY is not the key this database was written with. Set it back to that key "
    "(from your backup of .env); to change keys, put the old key in WAYMARK_PREVIOUS_ENCRYPTION_KEYS "
    "and run `waymark rotate-key`."
)


class KeyCheckError(Exception):
    """The configured keys cannot be used with this database; the message says what to do."""


class KeyState(StrEnum):
    current = "current"  # the database is written with WAYMARK_ENCRYPTION_KEY
    rotating = "rotating"  # with one of WAYMARK_PREVIOUS_ENCRYPTION_KEYS: rotate-key has work to do


def stored(session: Session) -> KeyCheck | None:
    return session.get(KeyCheck, ROW_ID)


def verify(session: Session, keys: Keyring) -> KeyState:
    """Raise KeyCheckError unless these keys fit this database; record the key on first use."""
    if not keys.current:
        raise KeyCheckError(NO_KEY)
    row = stored(session)
    if row is None:
        row = _first_record(session, keys)
    if row.check_value == crypto.check_value(keys.current):
        return KeyState.current
    if any(row.check_value == crypto.check_value(k) for k in keys.previous):
        return KeyState.rotating
    raise KeyCheckError(WRONG_KEY)


def record(session: Session, key: str) -> None:
    """The database is now written with `key` (rotate-key, once everything is under it)."""
    row = stored(session)
    if row is None:
        session.add(KeyCheck(id=ROW_ID, check_value=crypto.check_value(key), set_at=utcnow()))
    else:
        row.check_value, row.set_at = crypto.check_value(key), utcnow()
        session.add(row)
    session.flush()


def _first_record(session: Session, keys: Keyring) -> KeyCheck:
    """A database from before key checks (or a new one): recorded with the key its notes open with."""
    key = _key_of_existing(session, keys)
    row = KeyCheck(id=ROW_ID, check_value=crypto.check_value(key), set_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another process recorded it first
        found = stored(session)
        assert found is not None
        return found
    return row


def _key_of_existing(session: Session, keys: Keyring) -> str:
    assert keys.current is not None
    for column in COLUMNS:
        if column.json:
            continue
        token = session.exec(select(column.column).where(col(column.column).is_not(None)).limit(1)).first()
        if token is None:
            continue
        for key in keys.all:
            try:
                crypto.decrypt(key, token)
            except crypto.UnreadableNoteError:
                continue
            return key
        raise KeyCheckError(WRONG_KEY)
    return keys.current
