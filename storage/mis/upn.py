"""Unique Pupil Numbers: the DfE check letter (REFERENCE.md, "UPN").

A UPN is 13 characters: a check letter, the LA code (3 digits), the establishment number (4), the
year of issue (2) and a serial (3). A temporary UPN ends in a letter instead of a digit.
"""

from __future__ import annotations

import re
from enum import StrEnum

LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # no I, O or S
_SHAPE = re.compile(rf"^[{LETTERS}][0-9]{{11}}[0-9{LETTERS}]$")


class UpnKind(StrEnum):
    permanent = "permanent"
    temporary = "temporary"


def check_letter(body: str) -> str:
    """The check letter for characters 2 to 13 of a UPN (12 characters, upper case)."""
    total = 0
    for weight, char in enumerate(body, start=2):
        total += weight * (int(char) if char.isdigit() else LETTERS.index(char))
    return LETTERS[total % 23]


def upn_kind(value: str) -> UpnKind:
    """Permanent or temporary for a well-formed UPN with the right check letter; ValueError (in
    words for the office) otherwise. `value` is already upper case without spaces."""
    if not _SHAPE.match(value):
        raise ValueError(
            f"{value!r} is not a UPN (13 characters: a letter, then 11 digits, then a digit or, "
            "for a temporary UPN, a letter)"
        )
    expected = check_letter(value[1:])
    if value[0] != expected:
        raise ValueError(
            f"{value} has the wrong check letter (a typing slip?): the UPN with these digits starts with {expected}"
        )
    return UpnKind.temporary if value[-1].isalpha() else UpnKind.permanent


def with_check_letter(body: str) -> str:
    """A valid UPN from its last 12 characters (for test data and made-up demo pupils)."""
    return check_letter(body) + body
