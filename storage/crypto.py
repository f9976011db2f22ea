"""Staff-only notes, encrypted at rest with Fernet (WAYMARK_ENCRYPTION_KEY).

With no key configured Waymark refuses to store a note rather than keep it in clear: the caller
gets `NoKeyError` and tells the member of staff why.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class NoKeyError(Exception):
    """No encryption key is configured, so a staff-only note cannot be stored or read."""


class UnreadableNoteError(Exception):
    """The note was encrypted with another key (the key was changed or lost)."""


def _fernet(key: str | None) -> Fernet:
    if not key:
        raise NoKeyError("WAYMARK_ENCRYPTION_KEY is not set")
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError) as exc:
        raise NoKeyError("WAYMARK_ENCRYPTION_KEY is not a valid Fernet key") from exc


def new_key() -> str:
    return Fernet.generate_key().decode()


def has_key(key: str | None) -> bool:
    try:
        _fernet(key)
    except NoKeyError:
        return False
    return True


def encrypt(key: str | None, text: str) -> bytes:
    return _fernet(key).encrypt(text.encode("utf-8"))


def decrypt(key: str | None, token: bytes) -> str:
    try:
        return _fernet(key).decrypt(token).decode("utf-8")
    except InvalidToken as exc:
        raise UnreadableNoteError("this note was encrypted with a different key") from exc
