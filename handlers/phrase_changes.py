"""A school's changes to the safeguarding phrase lists: adding and removing a phrase, checked against
the phrase book before anything is saved, and the lists as `waymark safeguarding phrases list` shows them.

Pure: each change takes the school's current changes (`storage.phrases.SchoolPhrases`) and returns
the new ones with a sentence saying what happened, or raises `PhraseChangeError` saying why not.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.safeguarding import Category, PhraseBook, normalise
from handlers.safeguarding.patterns import PatternError
from storage.phrases import SchoolPhrases

QUIET = "quiet"  # not a category: a context that keeps ordinary talk quiet ("cut the ribbon")

# Removing a phrase takes it out of the book only: the trained classifier beside the book
# (handlers/safeguarding/classifier.py) still screens every message, and a quiet context is what
# quiets both.
STILL_SCREENED = (
    " The trained classifier still screens every message, so the same words may still raise a concern;"
    " to keep words your pupils use innocently quiet, add them as a quiet context"
    ' (`waymark safeguarding phrases add quiet "PHRASE"`).'
)
QUIETS_BOTH = " Words inside it raise nothing, from the phrase lists or the trained classifier."


class PhraseChangeError(ValueError):
    """A change that cannot be made; the message says why and what to do instead."""


@dataclass(frozen=True)
class Changed:
    phrases: SchoolPhrases
    said: str


def _category(name: str) -> str:
    wanted = name.strip().lower()
    if wanted == QUIET or wanted in {c.value for c in Category}:
        return wanted
    choices = ", ".join([*(c.value for c in Category), QUIET])
    raise PhraseChangeError(f"{name!r} is not a category; use one of {choices}")


def _label(category: str) -> str:
    return "quiet contexts" if category == QUIET else Category(category).label


def _book(phrases: SchoolPhrases) -> PhraseBook:
    try:
        return PhraseBook(phrases.additions, phrases.removals)
    except (PatternError, ValueError) as exc:
        raise PhraseChangeError(f"that phrase can't be used: {exc}") from None


def _listed_in(book: PhraseBook, category: str, plain: str) -> bool:
    """The whole phrase is one the category's list holds: a listed pattern, or a phrase one stands for."""
    wanted = None if category == QUIET else Category(category)
    if any(item.category == wanted and normalise(item.pattern) == plain for item in book.listed):
        return True
    words = plain.split()
    return any(s == 0 and e == len(words) and entry.category == wanted for s, e, entry in book.find(words))


def add(current: SchoolPhrases, category: str, pattern: str) -> Changed:
    cat, text = _category(category), pattern.strip()
    plain = normalise(text)
    if not plain:
        raise PhraseChangeError("the phrase has no words in it")
    removed = [r for r in current.removals if normalise(r) == plain]
    if removed:  # taken out before: putting it back restores it
        current = SchoolPhrases(current.additions, [r for r in current.removals if r not in removed])
        if _listed_in(_book(current), cat, plain):
            return Changed(current, f"{text!r} is back in the list of {_label(cat)}.")
    if _listed_in(_book(current), cat, plain):
        raise PhraseChangeError(f"{text!r} is already in the list of {_label(cat)}")
    changed = SchoolPhrases([*current.additions, (cat, text)], current.removals)
    _book(changed)  # a pattern that does not parse, or stands for too many phrases, is refused here
    return Changed(changed, f"Added {text!r} to the list of {_label(cat)}." + (QUIETS_BOTH if cat == QUIET else ""))


def remove(current: SchoolPhrases, category: str, pattern: str) -> Changed:
    cat, text = _category(category), pattern.strip()
    plain = normalise(text)
    mine = [(c, p) for c, p in current.additions if c == cat and normalise(p) == plain]
    if mine:
        kept = [pair for pair in current.additions if pair not in mine]
        said = f"Removed the school's {text!r} from {_label(cat)}."
        return Changed(SchoolPhrases(kept, current.removals), said + ("" if cat == QUIET else STILL_SCREENED))
    book = _book(current)
    if not plain or not _listed_in(book, cat, plain):
        raise PhraseChangeError(
            f"{text!r} is not in the list of {_label(cat)}; `waymark safeguarding phrases list` shows the lists"
        )
    others = sorted(
        {_label(c.value) for c in Category if c.value != cat and _listed_in(book, c.value, plain)}
        | ({_label(QUIET)} if cat != QUIET and _listed_in(book, QUIET, plain) else set())
    )
    also = f" It is also taken out of: {', '.join(others)}." if others else ""
    said = f"Removed {text!r}.{also}" + ("" if cat == QUIET else STILL_SCREENED)
    return Changed(SchoolPhrases(current.additions, [*current.removals, text]), said)


# What `phrases list` says of how the lists are used (handlers/safeguarding/screen.py holds it).
OVERRULE_NOTE = (
    "A default phrase raises nothing in a message the trained classifier reads as plainly ordinary talk "
    '("my teacher will kill me"); a phrase added by the school always raises its concern.'
)


def listing(current: SchoolPhrases) -> list[str]:
    """Every list as it stands for the school: the defaults, the school's additions marked, and its removals."""
    book = _book(current)
    lines: list[str] = []
    for category in [*(c.value for c in Category), QUIET]:
        wanted = None if category == QUIET else Category(category)
        name = "Quiet contexts (keep ordinary talk quiet)" if category == QUIET else _label(category)
        lines.append(f"{name} [{category}]:")
        for item in book.listed:
            if item.category == wanted:
                lines.append(f"  {item.pattern}" + ("" if item.default else "   (added by the school)"))
    lines.append("Removed by the school: " + (", ".join(current.removals) if current.removals else "nothing"))
    lines.append(OVERRULE_NOTE)
    return lines
