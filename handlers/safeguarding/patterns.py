"""The small pattern language the phrase lists are written in, and its expansion into plain phrases.

A pattern is words separated by spaces. A word may be
- alternatives joined by "|": "hit|hits|hitting me";
- a group in brackets, whose alternatives may have several words: "no food (at home|in the house)";
- a class in angle brackets, standing for every phrase of that class: "<adult> hit me";
- any of those followed by "?" when it may be left out: "my? <adult> hits me";
- "..." alone, for up to `MAX_GAP` words of any kind: "<adult> ... <hurt> me" meets "my dad really
  hit me" and "dads new girlfriend hit me" alike. It joins two parts, so a pattern neither starts
  nor ends with it.
Everything else in a pattern is an ordinary word, normalised like the text it is matched against.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

from handlers.safeguarding.normalise import normalise

# "..." stands for up to this many words: enough for "my step dad really badly hit me", few enough
# that the two parts still belong to one clause.
MAX_GAP = 3
GAP = "..."  # kept as it is in a plain phrase: no normalised word has a full stop

# One pattern may stand for at most this many phrases: a typo in a school's list must not make a
# book of millions.
MAX_EXPANSIONS = 20000

_SLOT = re.compile(r"\([^()]*\)\??|[^\s()]+")


class PatternError(ValueError):
    pass


def _slot(word: str, classes: Mapping[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    optional = word.endswith("?") and len(word) > 1
    if optional:
        word = word[:-1]
    if word.startswith("(") and word.endswith(")"):
        word = word[1:-1]
    if word == GAP:
        return [(GAP,)]
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
    parts = _SLOT.findall(pattern)
    # A bracket inside a bracket is not part of the language: without this check the slot
    # pattern would silently drop the brackets and the pattern would mean something else.
    if "".join(parts).replace(" ", "") != pattern.replace(" ", ""):
        raise PatternError(f"{pattern!r} has a bracket inside a bracket or one left open")
    slots = [_slot(word, classes) for word in parts]
    slots = [slot for slot in slots if slot]
    if slots and (slots[0] == [(GAP,)] or slots[-1] == [(GAP,)]):
        raise PatternError(f"{pattern!r} starts or ends with {GAP}: it must join two parts")
    count = 1
    for slot in slots:
        count *= len(slot)
    if count > MAX_EXPANSIONS:
        raise PatternError(f"{pattern!r} stands for {count} phrases, more than {MAX_EXPANSIONS}")
    phrases: set[tuple[str, ...]] = set()
    for combination in itertools.product(*slots):
        phrase = tuple(word for part in combination for word in part)
        if phrase and phrase[0] != GAP and phrase[-1] != GAP:
            phrases.add(phrase)
    return phrases
