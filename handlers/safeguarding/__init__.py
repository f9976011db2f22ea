"""Safeguarding screening: which words of a message may be a disclosure, and of what.

Pure code on the handlers floor (standard library only). `screen(text, book)` returns the matches;
`PhraseBook` holds the default phrase lists with a school's additions and removals. Nothing here
stores, alerts or answers: that is wired on top of it.
"""

from handlers.safeguarding.book import Entry, PhraseBook, default_book
from handlers.safeguarding.categories import Category
from handlers.safeguarding.normalise import normalise
from handlers.safeguarding.screen import Match, screen

__all__ = ["Category", "Entry", "Match", "PhraseBook", "default_book", "normalise", "screen"]
