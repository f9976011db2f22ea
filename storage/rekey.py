"""`waymark rotate-key`: every encrypted value re-encrypted under the current key, in batches.

Each batch is its own transaction, so the command can be stopped at any point and run again: a
value already under the current key is left as it is. Only when every column is done does the key
check move to the new key; until then processes holding the old key as current keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import col, select

from core.keyring import Keyring
from storage import crypto, keycheck
from storage.db import transaction
from storage.encrypted import COLUMNS, EncryptedColumn, map_tokens, rotated_token

BATCH = 500


@dataclass
class Rotated:
    column: str
    rotated: int = 0  # re-encrypted now
    unreadable: int = 0  # no key in the ring reads it: left as it is


def rotate_all(
    engine: Engine, keys: Keyring, *, batch: int = BATCH, progress: Callable[[Rotated], None] | None = None
) -> list[Rotated]:
    """Re-encrypt everything; KeyCheckError when these keys do not fit the database."""
    assert keys.current is not None
    with transaction(engine) as session:
        keycheck.verify(session, keys)
    results = []
    for column in COLUMNS:
        done = Rotated(column.label)
        after = 0
        while True:
            after, more = _batch(engine, keys, column, after, batch, done)
            if progress is not None:
                progress(done)
            if not more:
                break
        results.append(done)
    with transaction(engine) as session:
        keycheck.record(session, keys.current)
    return results


def _batch(
    engine: Engine, keys: Keyring, column: EncryptedColumn, after: int, size: int, done: Rotated
) -> tuple[int, bool]:
    model_id = getattr(column.model, "id")  # noqa: B009  (every listed model has one; SQLModel does not say so)
    query = select(column.model).where(model_id > after).order_by(model_id).limit(size).with_for_update()
    if column.json:
        query = query.where(col(column.column).contains(crypto.TOKEN_PREFIX))
    else:
        query = query.where(col(column.column).is_not(None))
    with transaction(engine) as session:
        rows = list(session.exec(query).all())
        for row in rows:
            value = getattr(row, column.name)
            new = _rotated_json(keys, value) if column.json else _rotated_binary(keys, value, done)
            if new is not None:
                setattr(row, column.name, new)
                session.add(row)
                done.rotated += 1
    return (getattr(rows[-1], "id") if rows else after), len(rows) == size  # noqa: B009


def _rotated_binary(keys: Keyring, token: bytes, done: Rotated) -> bytes | None:
    if crypto.under_current(keys, token):
        return None
    try:
        return crypto.rotate(keys, token)
    except crypto.UnreadableNoteError:
        done.unreadable += 1
        return None


def _rotated_json(keys: Keyring, document: str) -> str | None:
    return map_tokens(document, lambda token: rotated_token(keys, token))
