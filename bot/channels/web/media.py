"""Images and files in the web chat.

The engine keeps a reply's bytes with its transcript line (base64 in the payload), so a page can
show a chart again after a reload. `/media/<line id>` serves them, and only from the signed-in
account's own conversation: an id from a URL never reaches anyone else's.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from storage import websessions
from storage.db import transaction
from storage.models import TranscriptLine

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Media:
    body: bytes
    content_type: str
    download_name: str | None  # a file downloads under this name; an image (None) shows in the page


def payload_of(line: TranscriptLine) -> dict[str, Any]:
    """The line's payload (buttons, media), or {} when it holds nothing readable."""
    try:
        data = json.loads(line.payload or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def media_of(line: TranscriptLine) -> Media | None:
    """The image or file a bot line carries, if any (an image first, as the page shows it)."""
    if line.direction != "out":
        return None
    payload = payload_of(line)
    if payload.get("image_b64"):
        return Media(base64.b64decode(payload["image_b64"]), "image/png", None)
    if payload.get("file_b64"):
        name = _UNSAFE_IN_FILENAME.sub("_", str(payload.get("file") or "download"))[:80]
        kind = str(payload.get("file_type") or "application/octet-stream")
        return Media(base64.b64decode(payload["file_b64"]), kind, name)
    return None


def find(engine: Engine, external_id: str, line_id: int) -> Media | None:
    """The media of one line of this account's conversation; None for anyone else's line."""
    with transaction(engine, write=False) as s:
        line = websessions.line_of(s, external_id, line_id)
    return media_of(line) if line is not None else None
