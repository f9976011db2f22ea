"""Screening one message: which phrases of a book it contains, outside any quiet context, and, with
a classifier, whether the trained model takes it for a disclosure. A message raises a concern when
either finds one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from handlers.safeguarding.book import Entry, PhraseBook
from handlers.safeguarding.categories import Category
from handlers.safeguarding.classifier import Classifier
from handlers.safeguarding.normalise import plain_words

# What a concern raised by the classifier names as its phrase (concerns, the DSL's view, the CLI):
# no phrase of the book matched, the trained model did.
CLASSIFIER_PHRASE = "(classifier)"


@dataclass(frozen=True, slots=True)
class Match:
    category: Category
    phrase: str  # the pattern as listed in the book, or CLASSIFIER_PHRASE
    span: tuple[int, int]  # where the words that matched sit in the original text


def screen(text: str, phrases: PhraseBook, classifier: Classifier | None = None) -> list[Match]:
    """The concerns a message raises, in the order they appear; empty for ordinary talk.
    Pure and total: any string is screened, nothing is raised.

    With a classifier, a default phrase found in words the classifier reads as plainly ordinary
    (a score below `Classifier.book_floor`, on the whole message and on the words outside quiet
    contexts) raises nothing; the school's own phrases always raise. A message the book passes is
    also scored by it. Words inside a quiet context (the defaults' and the school's own) count for
    nothing: the model must still fire on the words outside them, so a school's quiet context
    quiets the model too. Its match comes only when the book found nothing (a phrase names its
    category better), named
    `CLASSIFIER_PHRASE`, in the model's own choice of category, its span over the words that
    weighed most."""
    plain, typed = plain_words(text)
    found = phrases.find(plain)
    if classifier is None or not plain:
        return _book_matches(found, typed) if found else []
    quiet = [(start, end) for start, end, entry in found if entry.category is None]
    if quiet:
        kept: Sequence[int] = [index for index in range(len(plain)) if not any(s <= index < e for s, e in quiet)]
        words = [plain[index] for index in kept]
    else:  # most messages: every word counts
        kept, words = range(len(plain)), plain
    # One score for both decisions, read as the trainer reads it (bench/train_screening.py `score_of`):
    # the lower of the whole message's and, with quiet contexts, that of the words outside them.
    score = classifier.score(plain)
    if quiet:
        score = min(score, classifier.score(words))
    if score < classifier.book_floor:
        found = [hit for hit in found if hit[2].category is None or hit[2].own]
    book = _book_matches(found, typed) if found else []
    if book or score < classifier.threshold:
        return book
    first, last = classifier.weighty(words)
    if last <= first:
        first, last = 0, len(kept)
    span = (typed[kept[first]].start(), typed[kept[last - 1]].end())
    return [Match(classifier.category(words), CLASSIFIER_PHRASE, span)]


def _book_matches(found: list[tuple[int, int, Entry]], typed: list[re.Match[str]]) -> list[Match]:
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
