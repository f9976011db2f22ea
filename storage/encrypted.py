"""Every place Waymark keeps encrypted text, so key checks and `waymark rotate-key` miss none.

Columns that hold one Fernet token each, and JSON columns that hold tokens among other values
(a draft's staff-only note in conversation state, a sealed transcript line's words). A test walks
the metadata: a new binary column must be listed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import SQLModel

from core.keyring import Keyring
from storage import crypto
from storage.models import AdviceRecord, Concern, ConcernNote, ConversationState, TranscriptLine, UnreadableUpdate


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[SQLModel]
    name: str
    json: bool = False  # tokens inside a JSON document, not the whole value

    @property
    def label(self) -> str:
        return f"{self.model.__tablename__}.{self.name}"

    @property
    def column(self) -> ColumnElement[Any]:
        return getattr(self.model, self.name)  # type: ignore[no-any-return]


COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(AdviceRecord, "staff_note"),
    EncryptedColumn(Concern, "words"),
    EncryptedColumn(Concern, "context"),
    EncryptedColumn(ConcernNote, "text"),
    EncryptedColumn(ConversationState, "data", json=True),
    EncryptedColumn(TranscriptLine, "payload", json=True),
    EncryptedColumn(UnreadableUpdate, "raw"),
)

# Binary columns that are not encrypted, and why (the same test reads this).
NOT_ENCRYPTED: dict[str, str] = {
    "chatfile.body": "a file offered to one chat account (a chart, a report, the pupil's own record): "
    "served only to that account, never holding staff-only notes or safeguarding records",
}


def map_tokens(document: str, change: Callable[[str], str | None]) -> str | None:
    """The JSON document with every token-looking string passed through `change` (None keeps it);
    None when nothing changed. Text a person typed that only looks like a token is left alone."""
    try:
        value = json.loads(document)
    except ValueError:
        return None
    changed = False

    def walk(item: Any) -> Any:
        nonlocal changed
        if isinstance(item, str) and item.startswith(crypto.TOKEN_PREFIX):
            new = change(item)
            if new is not None and new != item:
                changed = True
                return new
            return item
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        return item

    result = walk(value)
    return json.dumps(result, ensure_ascii=False) if changed else None


def rotated_token(keys: Keyring, token: str) -> str | None:
    """A JSON-held token under the current key, and so are the tokens inside it (a sealed draft
    holds a draft's sealed note); None when all are already, or it is no token of ours."""
    try:
        plain = crypto.unseal(keys, token)
    except (crypto.UnreadableNoteError, ValueError):
        return None
    inner = map_tokens(plain, lambda nested: rotated_token(keys, nested))
    if inner is None and crypto.under_current(keys, token.encode("ascii")):
        return None
    return crypto.seal(keys, plain if inner is None else inner)
