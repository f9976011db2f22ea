"""Cutting a long reply into messages a platform takes, by that platform's own length measure.

Telegram counts UTF-16 code units (an emoji outside the BMP counts 2), Slack counts characters after
its mrkdwn escaping (`&` is 5); the cut itself is the same everywhere: at a paragraph, line or word
in the second half of what fits, else at the limit, never through a character.
"""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]
EMPTY_TEXT_WITH_BUTTONS = "Pick one:"  # a reply with buttons but no words still needs a message


def characters(text: str) -> int:
    return len(text)


def split_text(text: str, limit: int, measure: Measure = characters) -> list[str]:
    """Cut a long text into messages of at most `limit` by `measure`, at a paragraph, line or word if there is one."""
    if measure(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while measure(rest) > limit:
        head = _prefix_within(rest, limit, measure)
        cut = _best_break(head)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        if piece:
            parts.append(piece)
    if rest.strip():
        parts.append(rest)
    return parts


def _prefix_within(text: str, limit: int, measure: Measure) -> str:
    """The longest prefix of `text` within `limit` (whole characters only)."""
    count = 0
    for index, char in enumerate(text):
        count += measure(char)
        if count > limit:
            return text[:index]
    return text


def _best_break(head: str) -> int:
    """Where to cut `head`: after the last paragraph, line or space in its second half, else its end."""
    floor = len(head) // 2
    for sep in ("\n\n", "\n", " "):
        at = head.rfind(sep)
        if at > floor:
            return at + len(sep)
    return len(head)


def rest_after(text: str, parts: list[str], done: int) -> str | None:
    """What is left of `text` once its first `done` parts (from split_text) went out; None if none did."""
    if done <= 0 or done >= len(parts):
        return None
    at = 0
    for part in parts[:done]:  # parts are pieces of the text, in order, with whitespace between
        found = text.find(part, at)
        if found < 0:
            return "\n".join(parts[done:])
        at = found + len(part)
    start = text.find(parts[done], at)
    return text[start:] if start >= 0 else "\n".join(parts[done:])
