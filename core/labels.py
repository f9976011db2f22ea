"""Shortening a button label to fit, at a word boundary, with "…": never "Visit the sixth form ope".

A label built from someone's words (an agreed action, a provider's name) is written short by the
conversation that builds it; each channel then holds it to the platform's own limit (Slack's 75
characters of button text). Both cut the same way: after the last whole word that fits with the
ellipsis, and only when one word is longer than the whole limit, inside it, and then never through a
character a reader sees as one (an emoji joined with ZWJ, a letter with its accents).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

ELLIPSIS = "\u2026"
_JOINERS = {"\u200d", "\u200c"}  # zero-width joiner and non-joiner bind the characters either side


def _is_flag_letter(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _glued(text: str, at: int) -> bool:
    """Whether cutting `text` before index `at` would split what a reader sees as one character."""
    before, after = text[at - 1], text[at]
    if before in _JOINERS or after in _JOINERS:
        return True
    if unicodedata.combining(after) or unicodedata.category(after) in {"Mn", "Me", "Mc"}:
        return True  # an accent or mark belongs to the letter before it
    if "\ufe00" <= after <= "\ufe0f" or "\U0001f3fb" <= after <= "\U0001f3ff":
        return True  # a variation selector or a skin tone belongs to the emoji before it
    # A flag is a pair of regional indicator letters: cut only after an even run of them.
    run = 0
    while at - run > 0 and _is_flag_letter(text[at - run - 1]):
        run += 1
    return _is_flag_letter(after) and run % 2 == 1


def shorten(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """`text` (whitespace collapsed) if it fits in `limit` by `measure`; else the most whole words that
    fit with "…" after them."""
    words = text.split()
    label = " ".join(words)
    if measure(label) <= limit:
        return label
    room = limit - measure(ELLIPSIS)
    kept = ""
    for word in words:
        longer = f"{kept} {word}" if kept else word
        if measure(longer) > room:
            break
        kept = longer
    if not kept:  # the first word alone is longer than the limit: cut inside it, between characters
        end = 0
        while end < len(label) and measure(label[: end + 1]) <= room:
            end += 1
        while 0 < end < len(label) and _glued(label, end):
            end -= 1
        kept = label[:end]
    return kept.rstrip(" ,;:.-\u2013\u2014") + ELLIPSIS
