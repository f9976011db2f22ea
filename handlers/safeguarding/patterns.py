"""The small pattern language the phrase lists are written in, and its expansion into plain phrases.

A pattern is words separated by spaces. A word may be
- alternatives joined by "|": "hit|hits|hitting me";
- a group in brackets, whose alternatives may have several words: "no food (at home|in the house)";
- a class in angle brackets, standing for every phrase of that class: "<adult> hit me";
- any of those followed by "?" when it may be left out: "my? <adult> hits me".
Everything else in a pattern is an ordinary word, normalised like the text it is matched against.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

from handlers.safeguarding.normalise import normalise

# One pattern may stand for at most this many phrases: a typo in a school's list must not make a
# book of millions.
MAX_EXPANSIONS = 5000

_SLOT = re.compile(r"\([^()]*\)\??|[^\s()]+")


class PatternError(ValueError):
    pass


def _slot(word: str, classes: Mapping[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    optional = word.endswith("?") and len(word) > 1
    if optional:
        word = word[:-1]
    if word.startswith("(") and word.endswith(")"):
        word = word[1:-1]
    choices: list[tuple[str, ...]] = []
    for alternative in word.split("|"):
        if alternative.startswith("<") and alternative.endswith(">"):
            name = alternative[1:-1]
            if name not in classes:
                raise PatternError(f"unknown class <{name}>")
            choices.extend(tuple(normalise(phrase).split()) for phrase in classes[name])
        else:
            plain = tuple(normalise(alternative).split())
            if plain:
                choices.append(plain)
    if optional:
        choices.append(())
    return choices


def expand(pattern: str, classes: Mapping[str, tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Every plain phrase (a tuple of normalised words) a pattern stands for."""
    slots = [_slot(word, classes) for word in _SLOT.findall(pattern)]
    slots = [slot for slot in slots if slot]
    count = 1
    for slot in slots:
        count *= len(slot)
    if count > MAX_EXPANSIONS:
        raise PatternError(f"{pattern!r} stands for {count} phrases, more than {MAX_EXPANSIONS}")
    phrases: set[tuple[str, ...]] = set()
    for combination in itertools.product(*slots):
        phrase = tuple(word for part in combination for word in part)
        if phrase:
            phrases.add(phrase)
    return phrases
