"""Images and files in the web chat.

The engine keeps a reply's bytes in the chatfile table (storage/chatfiles.py), named by id in the
payload of the transcript line that offered them, so a page can show a chart again after a reload.
`/media/<line id>` serves them, and only from the signed-in account's own conversation: an id from
a URL never reaches anyone else's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from storage import chatfiles, websessions
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


def file_ids(line: TranscriptLine) -> tuple[int | None, int | None]:
    """The ids of the image and the file a bot line offers (None for none)."""
    if line.direction != "out":
        return None, None
    payload = payload_of(line)
    image, file = payload.get("image_id"), payload.get("file_id")
    return (image if isinstance(image, int) else None), (file if isinstance(file, int) else None)


def find(engine: Engine, external_id: str, line_id: int) -> Media | None:
    """The image (first, as the page shows it) or file of one line of this account's conversation;
    None for anyone else's line."""
    with transaction(engine, write=False) as s:
        line = websessions.line_of(s, external_id, line_id)
        if line is None:
            return None
        image_id, file_id = file_ids(line)
        wanted = image_id if image_id is not None else file_id
        found = chatfiles.of_chat(s, line.identity_key, wanted) if wanted is not None else None
        if found is None:
            return None
        if image_id is not None:
            return Media(found.body, "image/png", None)
        name = _UNSAFE_IN_FILENAME.sub("_", found.name or "download")[:80]
        return Media(found.body, found.content_type or "application/octet-stream", name)
