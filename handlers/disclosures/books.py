"""One phrase book per school, kept for the life of the process and rebuilt when the school's own
additions and removals (`School.safeguarding_phrases`) change. Building one costs 0.04-0.2 s, so
never per message."""

from __future__ import annotations

import json
import logging
import threading

from handlers.safeguarding.book import PhraseBook, default_book
from storage.models import School

log = logging.getLogger(__name__)

_BOOKS: dict[int, tuple[str, PhraseBook]] = {}
_LOCK = threading.Lock()


def changes_of(raw: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The school's additions ((category, pattern) pairs, category "quiet" for a quiet context) and
    removals, from the JSON `{"additions": [[category, pattern], ...], "removals": [pattern, ...]}`.
    An addition may also be written `{"category": ..., "phrase": ...}`. Anything unreadable is skipped
    and logged: a typo in one school's list must never stop screening."""
    if not raw.strip():
        return [], []
    try:
        data = json.loads(raw)
    except ValueError:
        log.error("School.safeguarding_phrases is not JSON: screening with the default lists")
        return [], []
    if not isinstance(data, dict):
        return [], []
    additions: list[tuple[str, str]] = []
    for item in data.get("additions") or []:
        if isinstance(item, list | tuple) and len(item) == 2:
            category, pattern = item
        elif isinstance(item, dict):
            category, pattern = item.get("category"), item.get("phrase", item.get("pattern"))
        else:
            continue
        if isinstance(category, str) and isinstance(pattern, str) and pattern.strip():
            additions.append((category, pattern))
    removals: list[str] = []
    for item in data.get("removals") or []:
        if isinstance(item, list | tuple) and len(item) == 2:  # [category, pattern]
            item = item[1]
        elif isinstance(item, dict):
            item = item.get("phrase", item.get("pattern"))
        if isinstance(item, str) and item.strip():
            removals.append(item)
    return additions, removals


def book_for(school: School | None) -> PhraseBook:
    """The school's book: the defaults with its changes; the shared default book when it has none."""
    raw = school.safeguarding_phrases if school is not None else ""
    if school is None or school.id is None or not raw.strip():
        return default_book()
    with _LOCK:
        kept = _BOOKS.get(school.id)
    if kept is not None and kept[0] == raw:
        return kept[1]
    additions, removals = changes_of(raw)
    try:
        book = PhraseBook(additions, removals)
    except ValueError:  # an addition naming no category we know
        log.error("School %s has a safeguarding phrase of an unknown category: using the defaults", school.id)
        book = default_book()
    with _LOCK:
        _BOOKS[school.id] = (raw, book)
    return book
