"""Characters refused at every edge where text from outside comes in.

PostgreSQL refuses NUL in text (psycopg raises DataError), a lone surrogate cannot be encoded
as UTF-8 for any database, and the other control characters have no place in a chat message but
can hide text or break a CSV or a terminal. Tab, newline and carriage return are ordinary typing.
"""

from __future__ import annotations

import re

# C0 controls (bar tab, newline, CR), DEL, C1 controls, and UTF-16 surrogates (only ever alone in a str).
_REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_refused_characters(text: str | None) -> bool:
    """True when `text` holds a character no message may carry (NUL, other controls, a lone surrogate)."""
    return text is not None and _REFUSED.search(text) is not None


def replace_refused_characters(text: str) -> str:
    """`text` with each refused character shown as U+FFFD, for keeping a line as it was shown."""
    return _REFUSED.sub("\ufffd", text)
