"""Reading the agreed actions out of a tutor's one message about a conversation: pure, no I/O.

    Talked about apprenticeships; advised the open evening.
    Agreed:
    - Visit the college open day by 12 Dec
    - Write a first CV

The lines after "Agreed:" (or "Actions:"), or else every bullet line, are the actions, each with its
own date when it ends with one; the rest is what was discussed. A message with neither is all summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from handlers.dates import split_due

# "Agreed:" anywhere ("Talked it through. Agreed: ring the college; write a CV"), or a line that is a heading.
_AGREED = re.compile(
    r"\bagreed(?:\s+actions?)?\s*:|^[ \t]*(?:actions?|next\s+steps?)[ \t]*:", re.IGNORECASE | re.MULTILINE
)
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)])\s+(?P<item>.*\S)\s*$")


@dataclass(frozen=True)
class Agreed:
    summary: str
    actions: list[tuple[str, date | None]]


def _item(line: str) -> str:
    m = _BULLET.match(line)
    return m["item"] if m else line.strip()


def split_agreed(text: str, today: date) -> Agreed:
    """What was discussed, and the agreed actions (text, due date or None), from one message."""
    heading = _AGREED.search(text)
    if heading is not None:
        summary = text[: heading.start()]
        pieces = text[heading.end() :].replace(";", "\n").splitlines()
        items = [_item(piece) for piece in pieces if piece.strip()]
    else:
        lines = text.splitlines()
        summary = "\n".join(line for line in lines if not _BULLET.match(line))
        items = [_item(line) for line in lines if _BULLET.match(line)]
    return Agreed(summary.strip(), [split_due(item, today) for item in items])
