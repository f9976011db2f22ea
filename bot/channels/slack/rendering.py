"""Slack's shape of a message: neutral replies as Block Kit (escaped mrkdwn sections, button rows)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.channels.text import EMPTY_TEXT_WITH_BUTTONS
from bot.channels.text import split_text as split_measured
from core.labels import shorten
from core.messages import DANGER, PRIMARY, Button
from core.platforms import PLATFORMS, Platform
from handlers.registry import ALIASES, COMMANDS, load_conversations

log = logging.getLogger("waymark.slack")

PLATFORM = Platform.slack.value
_LIMIT = PLATFORMS[PLATFORM].text_limit
assert _LIMIT is not None
SECTION_LIMIT: int = _LIMIT  # characters of a section block's text, after escaping
ROWS_PER_MESSAGE = 49  # 50 blocks per message, one of them the text
BUTTONS_PER_ROW = 25  # elements of an actions block
LABEL_LIMIT = 75  # a button's plain_text
VALUE_LIMIT = 2000  # a button's value
ACTION_PREFIX = "wm"
SLACK_STYLES = {PRIMARY, DANGER}  # Block Kit buttons take "primary" (green) and "danger" (red)


def escape(text: str) -> str:
    """Slack mrkdwn's three control characters; everything else arrives as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def from_slack(text: str) -> str:
    """What the person typed: Slack sends links as `<url|label>` and escapes `&`, `<`, `>`."""
    plain = _LINK.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(1).removeprefix("mailto:"), text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escaped_length(text: str) -> int:
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces whose escaped length is at most `limit`, cut at a paragraph, line or word when possible."""
    return split_measured(text, limit, escaped_length)


def section(text: str) -> dict[str, Any]:
    # verbatim: no automatic linking of names and addresses people typed.
    return {"type": "section", "text": {"type": "mrkdwn", "text": escape(text), "verbatim": True}}


def action_rows(buttons: list[list[Button]]) -> list[dict[str, Any]]:
    """One `actions` block per row of buttons; action_id unique within the message, value the data."""
    blocks: list[dict[str, Any]] = []
    for r, row in enumerate(buttons):
        usable = [b for b in row if len(b.data) <= VALUE_LIMIT]
        if len(usable) < len(row):
            log.warning("slack: dropped a button whose data is over %d characters", VALUE_LIMIT)
        for start in range(0, len(usable), BUTTONS_PER_ROW):
            elements = [
                {
                    "type": "button",
                    "action_id": f"{ACTION_PREFIX}:{r}:{start + c}",
                    "text": {"type": "plain_text", "text": _label(b.label), "emoji": True},
                    "value": b.data,
                    **({"style": b.style} if b.style in SLACK_STYLES else {}),
                }
                for c, b in enumerate(usable[start : start + BUTTONS_PER_ROW])
            ]
            blocks.append({"type": "actions", "block_id": f"{ACTION_PREFIX}-row-{r}-{start}", "elements": elements})
    return blocks


def _label(label: str) -> str:
    return shorten(label, LABEL_LIMIT) or "…"


@dataclass(frozen=True)
class Message:
    """One chat.postMessage: fallback text (for notifications) and blocks."""

    text: str
    blocks: list[dict[str, Any]]


_COMMAND_MENTION = re.compile(r"(?<![\w/:.])/([a-z]+)\b")


def slack_wording(text: str) -> str:
    """`/record` -> `/waymark record`: Slack takes any message starting with "/" as its own command,
    so the typed form that works there goes through the app's one slash command."""
    load_conversations()

    def reword(match: re.Match[str]) -> str:
        name = match.group(1)
        known = name in COMMANDS or name in ALIASES
        return f"/waymark {name}" if known and name != "waymark" else match.group(0)

    return _COMMAND_MENTION.sub(reword, text)


def messages_for(text: str, buttons: list[list[Button]]) -> list[Message]:
    """A reply as Slack messages: the text split under the section limit, the buttons on the last one."""
    rows = action_rows(buttons)
    parts = split_text(slack_wording(text))
    if not parts:
        if not rows:
            return []
        parts = [EMPTY_TEXT_WITH_BUTTONS]
    out = [Message(escape(p), [section(p)]) for p in parts]
    last = out.pop()
    chunks = [rows[i : i + ROWS_PER_MESSAGE] for i in range(0, len(rows), ROWS_PER_MESSAGE)] or [[]]
    out.append(Message(last.text, last.blocks + chunks[0]))
    out += [Message(EMPTY_TEXT_WITH_BUTTONS, [section(EMPTY_TEXT_WITH_BUTTONS), *chunk]) for chunk in chunks[1:]]
    return out


def pressed_values(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """value -> label of the buttons shown in a message's blocks."""
    found: dict[str, str] = {}
    for block in blocks:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("type") == "button" and "value" in element:
                found[str(element["value"])] = str((element.get("text") or {}).get("text", ""))
    return found


def settled(blocks: list[dict[str, Any]], fallback: str, label: str | None) -> Message:
    """The pressed question without its buttons, with the choice noted under it."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    if label:
        kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"» {escape(label)}"}]})
    return Message(fallback or EMPTY_TEXT_WITH_BUTTONS, kept)
