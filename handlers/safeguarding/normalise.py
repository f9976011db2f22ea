"""How young people write, folded into one plain form before any phrase is looked for.

Text and phrases go through the same steps, so a phrase is written once in ordinary English and
still meets "im sooo scared 2 go home", "I’m scared to go home" and "IM SCARED TO GO HOME":
case and accents folded, apostrophes dropped, each run of a repeated letter kept once ("pleeease"
and "please" are both "plese"), digits read as letters inside a word ("k1ll"), and text-speak and
common misspellings replaced by the words they stand for. Only letters and digits survive; every
other character separates words, so a match always starts and ends on a word boundary.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers.safeguarding.spelling import LEET, SHORTHAND

# A word as typed: letters and digits, with the apostrophes and leet symbols that may sit inside it.
_TYPED_WORD = re.compile(r"[\w@$'’‘`´ʼ]+")
_APOSTROPHES = str.maketrans("", "", "'’‘`´ʼ")
_REPEATS = re.compile(r"(.)\1+")
_PLAIN_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Word:
    """One normalised word and where the typed word it came from sits in the original text."""

    text: str
    start: int
    end: int


def _fold(raw: str) -> str:
    folded = raw.casefold()
    if folded.isascii():
        return folded.translate(_APOSTROPHES)
    # Casefolding can leave characters that decompose further, and decomposing can leave capitals
    # (compatibility forms): fold twice so that a second pass changes nothing.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", folded).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_APOSTROPHES)


def _collapse(word: str) -> str:
    return _REPEATS.sub(r"\1", word)


# Typed words already met, and the plain words each stands for: a plain dict rather than an LRU cache,
# because a hit then reads one table entry, where an LRU hit also relinks its list (more memory
# touched in every step, when the step's database work has just pushed it all out of the caches).
_MET: dict[str, tuple[str, ...]] = {}
MET_LIMIT = 65_536  # distinct typed words kept; past it the table starts again
# Only words this short are kept, so the table stays a few MB however long the "words" someone pastes.
MET_LETTERS = 40


def words_of(raw: str) -> tuple[str, ...]:
    """The plain words one typed word stands for: usually one, none for punctuation, several for
    shorthand ("kms" is "kil myself")."""
    found = _MET.get(raw)
    if found is None:
        found = _plain(raw)
        if len(raw) <= MET_LETTERS:
            if len(_MET) >= MET_LIMIT:
                _MET.clear()
            _MET[raw] = found
    return found


def forget_words() -> None:
    """Empty the table of typed words met (bench/safeguarding_bench.py: the cost of words never seen)."""
    _MET.clear()


def _plain(raw: str) -> tuple[str, ...]:
    word = _fold(raw)
    if word in SHORTHAND:
        return SHORTHAND[word]
    if not word.isalpha() and not word.isdigit() and any(ch.isalpha() for ch in word):
        word = word.translate(LEET)
    result: list[str] = []
    for part in _PLAIN_WORD.findall(word):
        part = _collapse(part)
        result.extend(SHORTHAND.get(part, (part,)))
    return tuple(result)


def plain_words(text: str) -> tuple[list[str], list[re.Match[str]]]:
    """The normalised words of a text, and for each the typed word it came from (its span is
    only asked for when a phrase matched, so it is not worked out here)."""
    plain: list[str] = []
    origins: list[re.Match[str]] = []
    for typed in _TYPED_WORD.finditer(text):
        found = words_of(typed.group())
        if len(found) == 1:  # most words: no list built to add one
            plain.append(found[0])
            origins.append(typed)
        else:
            plain += found
            origins += [typed] * len(found)
    return plain, origins


def words(text: str) -> list[Word]:
    """Every normalised word of a text, each with the span of the typed word it came from."""
    plain, origins = plain_words(text)
    return [Word(word, *typed.span()) for word, typed in zip(plain, origins, strict=True)]


def normalise(text: str) -> str:
    """The plain form of a text: its normalised words joined by single spaces."""
    return " ".join(plain for typed in _TYPED_WORD.findall(text) for plain in words_of(typed))
