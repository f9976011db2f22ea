"""Whole numbers typed or sent by a person: ASCII digits only, and never bigger than a column holds.

`str.isdigit()` is true for "²" and "٣", which `int()` then refuses or reads as a number no one
typed on purpose; and a twenty-digit id overflows SQLite's and PostgreSQL's integers.
"""

from __future__ import annotations

# The largest id any table holds: SQLModel's `int` primary keys are INTEGER, 32-bit on PostgreSQL.
MAX_ID = 2**31 - 1


def whole_number(text: str | None, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """`text` as a whole number from `low` to `high`; None for anything else (signs, spaces,
    other scripts' digits, superscripts, underscores, out of range)."""
    if not text or len(text) > len(str(high)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None
