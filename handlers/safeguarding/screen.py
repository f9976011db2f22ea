"""Screening one message: which phrases of a book it contains, outside any quiet context."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.safeguarding.book import PhraseBook
from handlers.safeguarding.categories import Category
from handlers.safeguarding.normalise import words


@dataclass(frozen=True, slots=True)
class Match:
    category: Category
    phrase: str  # the pattern as listed in the book
    span: tuple[int, int]  # where the words that matched sit in the original text


def screen(text: str, phrases: PhraseBook) -> list[Match]:
    """The concerns a message raises, in the order they appear; empty for ordinary talk.
    Pure and total: any string is screened, nothing is raised."""
    typed = words(text)
    found = phrases.find([word.text for word in typed])
    if not found:
        return []
    quiet = [(start, end) for start, end, entry in found if entry.category is None]
    matches: list[Match] = []
    seen: set[tuple[Category, int, int]] = set()
    for start, end, entry in found:
        category = entry.category
        if category is None or any(q_start < end and start < q_end for q_start, q_end in quiet):
            continue
        span = (typed[start].start, typed[end - 1].end)
        if (category, *span) in seen:
            continue
        seen.add((category, *span))
        matches.append(Match(category, entry.pattern, span))
    matches.sort(key=lambda match: match.span)
    return matches
