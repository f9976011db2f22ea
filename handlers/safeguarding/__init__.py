"""Safeguarding screening: which words of a message may be a disclosure, and of what.

`screen(text, book)` returns the matches and `PhraseBook` holds the default phrase lists with a
school's additions and removals: pure code, standard library only. Beside them, and not imported
here so the matcher stays free of storage: `books` (one book per school), `raising` (what a step does
with a match), `alerts` (the DSLs' outbox rows) and `support` (what the pupil is told).
"""

from handlers.safeguarding.book import Entry, PhraseBook, default_book
from handlers.safeguarding.categories import Category
from handlers.safeguarding.normalise import normalise
from handlers.safeguarding.screen import Match, screen

__all__ = ["Category", "Entry", "Match", "PhraseBook", "default_book", "normalise", "screen"]
