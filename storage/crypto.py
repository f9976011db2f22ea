"""Staff-only notes and safeguarding text, encrypted at rest with Fernet (WAYMARK_ENCRYPTION_KEY).

A key is required: `waymark run` does not start without one, and the database keeps a check value
of it (storage.keycheck), so a different key stops start-up instead of leaving two keys in one
database. While `waymark rotate-key` runs, the old keys (WAYMARK_PREVIOUS_ENCRYPTION_KEYS) still
decrypt (MultiFernet); everything new is encrypted with the current key.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.keyring import Keyring

# A Fernet token is base64 of a version byte 0x80 and a timestamp: it always starts like this.
TOKEN_PREFIX = "gAAAAA"
_CHECK_CONSTANT = b"waymark encryption key check v1"


class NoKeyError(Exception):
    """No encryption key is configured, so a staff-only note cannot be stored or read."""


class BadKeyError(NoKeyError):
    """A value given as a key is not a Fernet key (44 characters of URL-safe base64)."""


class UnreadableNoteError(Exception):
    """The note was encrypted with another key (the key was changed or lost)."""


KeyLike = Keyring | str | None


def _single(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise BadKeyError("not a valid Fernet key") from exc


def _ring(key: KeyLike) -> Keyring:
    return key if isinstance(key, Keyring) else Keyring(current=key)


def _fernet(key: KeyLike) -> MultiFernet:
    ring = _ring(key)
    if not ring.current:
        raise NoKeyError("WAYMARK_ENCRYPTION_KEY is not set")
    return MultiFernet([_single(k) for k in ring.all])


def new_key() -> str:
    return Fernet.generate_key().decode()


def is_valid_key(key: str) -> bool:
    try:
        _single(key)
    except BadKeyError:
        return False
    return True


def has_key(key: KeyLike) -> bool:
    try:
        _fernet(key)
    except NoKeyError:
        return False
    return True


def check_value(key: str) -> str:
    """What the database keeps to recognise a key: an HMAC of a constant under it, never the key."""
    return hmac.new(key.encode(), _CHECK_CONSTANT, hashlib.sha256).hexdigest()


def encrypt(key: KeyLike, text: str) -> bytes:
    return _fernet(key).encrypt(text.encode("utf-8"))


def decrypt(key: KeyLike, token: bytes) -> str:
    try:
        return _fernet(key).decrypt(token).decode("utf-8")
    except InvalidToken as exc:
        raise UnreadableNoteError("this note was encrypted with a different key") from exc


def seal(key: KeyLike, text: str) -> str:
    """`encrypt` as text, for values kept inside JSON (conversation state, transcript payloads)."""
    return encrypt(key, text).decode("ascii")


def unseal(key: KeyLike, token: str) -> str:
    return decrypt(key, token.encode("ascii"))


def under_current(key: Keyring, token: bytes) -> bool:
    """True when the token already decrypts with the current key (nothing to rotate)."""
    assert key.current is not None
    try:
        _single(key.current).decrypt(token)
    except InvalidToken:
        return False
    return True


def rotate(key: Keyring, token: bytes) -> bytes:
    """The same plaintext under the current key; UnreadableNoteError when no key in the ring reads it."""
    try:
        return _fernet(key).rotate(token)
    except InvalidToken as exc:
        raise UnreadableNoteError(
            "no key in WAYMARK_ENCRYPTION_KEY or WAYMARK_PREVIOUS_ENCRYPTION_KEYS reads it"
        ) from exc
