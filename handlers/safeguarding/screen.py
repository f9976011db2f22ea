"""Screening one message: which phrases of a book it contains, outside any quiet context."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.safeguarding.book import Entry, PhraseBook
from handlers.safeguarding.categories import Category
from handlers.safeguarding.normalise import plain_words


@dataclass(frozen=True, slots=True)
class Match:
    category: Category
    phrase: str  # the pattern as listed in the book
    span: tuple[int, int]  # where the words that matched sit in the original text


def screen(text: str, phrases: PhraseBook) -> list[Match]:
    """The concerns a message raises, in the order they appear; empty for ordinary talk.
    Pure and total: any string is screened, nothing is raised."""
    plain, typed = plain_words(text)
    found = phrases.find(plain)
    if not found:
        return []
    quiet = [(start, end) for start, end, entry in found if entry.category is None]
    kept: list[tuple[int, int, Entry]] = []
    # Earliest and longest first, so that "step dad hit me" is kept and "dad hit me" inside it,
    # of the same category, is not reported again.
    for start, end, entry in sorted(found, key=lambda hit: (hit[0], -hit[1])):
        if entry.category is None or any(q_start < end and start < q_end for q_start, q_end in quiet):
            continue
        if any(e.category == entry.category and s < end and start < e_end for s, e_end, e in kept):
            continue
        kept.append((start, end, entry))
    return [
        Match(entry.category, entry.pattern, (typed[start].start(), typed[end - 1].end()))
        for start, end, entry in kept
        if entry.category is not None
    ]
