"""A school's own changes to the safeguarding phrase lists, kept as JSON in `School.safeguarding_phrases`.

    {"additions": [["self_harm", "done with everything"], ["quiet", "cut the cake"]], "removals": ["kms"]}

An addition is a category value (or "quiet" for a context that keeps ordinary talk quiet) and a
pattern; a removal is a pattern, taken out of every list (as `handlers.safeguarding.PhraseBook` takes
them). Storage only keeps them: the caller checks a change against the phrase book before saving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from storage.models import School


@dataclass
class SchoolPhrases:
    additions: list[tuple[str, str]] = field(default_factory=list)  # (category or "quiet", pattern)
    removals: list[str] = field(default_factory=list)


def phrases_of(school: School) -> SchoolPhrases:
    """The school's changes; none for an empty or unreadable value (the defaults then apply)."""
    try:
        stored = json.loads(school.safeguarding_phrases or "{}")
    except json.JSONDecodeError:
        return SchoolPhrases()
    if not isinstance(stored, dict):
        return SchoolPhrases()
    additions = [
        (str(pair[0]), str(pair[1]))
        for pair in stored.get("additions", [])
        if isinstance(pair, list | tuple) and len(pair) == 2
    ]
    removals = [str(item) for item in stored.get("removals", []) if isinstance(item, str)]
    return SchoolPhrases(additions, removals)


def set_phrases(school: School, phrases: SchoolPhrases) -> None:
    changed = {"additions": [list(pair) for pair in phrases.additions], "removals": phrases.removals}
    school.safeguarding_phrases = (
        json.dumps(changed, ensure_ascii=False) if phrases.additions or phrases.removals else ""
    )
