"""A school's own changes to the safeguarding phrase lists, kept as JSON in `School.safeguarding_phrases`.

    {"additions": [["self_harm", "done with everything"], ["quiet", "cut the cake"]], "removals": ["kms"]}

An addition is a category value (or "quiet" for a context that keeps ordinary talk quiet) and a
pattern; a removal is a pattern, taken out of every list (as `handlers.safeguarding.PhraseBook` takes
them). Storage only keeps them: the caller checks a change against the phrase book before saving.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from storage.models import School

log = logging.getLogger(__name__)


@dataclass
class SchoolPhrases:
    additions: list[tuple[str, str]] = field(default_factory=list)  # (category or "quiet", pattern)
    removals: list[str] = field(default_factory=list)


def phrases_of(school: School) -> SchoolPhrases:
    """The school's changes; none for an empty or unreadable value (the defaults then apply).

    Read tolerantly, since screening runs on every message: an addition may also be written
    `{"category": ..., "phrase": ...}`, a removal `[category, pattern]` or `{"phrase": ...}`;
    anything else is skipped, and a value that is not JSON is logged."""
    raw = school.safeguarding_phrases or ""
    if not raw.strip():
        return SchoolPhrases()
    try:
        stored = json.loads(raw)
    except ValueError:
        log.error("School %s: safeguarding_phrases is not JSON, so the default lists apply", school.id)
        return SchoolPhrases()
    if not isinstance(stored, dict):
        return SchoolPhrases()
    additions: list[tuple[str, str]] = []
    for item in stored.get("additions") or []:
        if isinstance(item, list | tuple) and len(item) == 2:
            category, pattern = item
        elif isinstance(item, dict):
            category, pattern = item.get("category"), item.get("phrase", item.get("pattern"))
        else:
            continue
        if isinstance(category, str) and isinstance(pattern, str) and pattern.strip():
            additions.append((category, pattern))
    removals: list[str] = []
    for item in stored.get("removals") or []:
        if isinstance(item, list | tuple) and len(item) == 2:  # [category, pattern]
            item = item[1]
        elif isinstance(item, dict):
            item = item.get("phrase", item.get("pattern"))
        if isinstance(item, str) and item.strip():
            removals.append(item)
    return SchoolPhrases(additions, removals)


def set_phrases(school: School, phrases: SchoolPhrases) -> None:
    changed = {"additions": [list(pair) for pair in phrases.additions], "removals": phrases.removals}
    school.safeguarding_phrases = (
        json.dumps(changed, ensure_ascii=False) if phrases.additions or phrases.removals else ""
    )
