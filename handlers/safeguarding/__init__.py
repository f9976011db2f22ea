"""Safeguarding screening: which words of a message may be a disclosure, and of what.

Pure code on the handlers floor (standard library only). `screen(text, book)` returns the matches;
`PhraseBook` holds the default phrase lists with a school's additions and removals;
`default_classifier()` the trained model that screens beside them (`screen(text, book, model)`). Nothing here
stores, alerts or answers: that is wired on top of it.
"""

from handlers.safeguarding.book import Entry, PhraseBook, default_book
from handlers.safeguarding.categories import Category
from handlers.safeguarding.classifier import Classifier, ModelError, default_classifier
from handlers.safeguarding.normalise import normalise
from handlers.safeguarding.screen import CLASSIFIER_PHRASE, Match, screen

__all__ = [
    "CLASSIFIER_PHRASE",
    "Category",
    "Classifier",
    "Entry",
    "Match",
    "ModelError",
    "PhraseBook",
    "default_book",
    "default_classifier",
    "normalise",
    "screen",
]
