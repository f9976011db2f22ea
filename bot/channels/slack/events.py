"""Slack's events, commands and button presses as neutral `Incoming`s."""

from __future__ import annotations

from typing import Any

from bot.channels.slack.rendering import PLATFORM, from_slack
from core.messages import Incoming

# Message subtypes that are a person saying something; the rest (edits, joins, deletions) are not.
SAID_SUBTYPES = frozenset({None, "file_share"})


def command_text(text: str) -> str:
    """`/waymark record` -> `/record`; `/waymark link CODE` -> `/link CODE`; `/waymark` -> `/help`."""
    words = from_slack(text).strip().lstrip("/").strip()
    return f"/{words}" if words else "/help"


def chat_type(channel_type: str | None, channel_id: str) -> str:
    """`im` is a direct message; anything else (channel, group, mpim) is a group to refuse."""
    if channel_type is not None:
        return "private" if channel_type == "im" else "group"
    return "private" if channel_id.startswith("D") else "group"


def message_incoming(event: dict[str, Any], event_id: str | None) -> Incoming | None:
    """A message event as an Incoming; None for the bot's own messages, edits, joins and the like."""
    if event.get("bot_id") or event.get("subtype") not in SAID_SUBTYPES or not event.get("user"):
        return None
    channel = str(event.get("channel", ""))
    attachment = "file" if event.get("files") or event.get("subtype") == "file_share" else None
    raw = event.get("text")
    return Incoming(
        platform=PLATFORM,
        chat_id=channel,
        user_id=str(event["user"]),
        # Words sent with a file are not trusted as an answer: the person meant to send the file.
        text=None if attachment or raw is None else from_slack(str(raw)),
        update_id=event_id,
        chat_type=chat_type(event.get("channel_type"), channel),
        attachment=attachment,
    )


def press_incoming(body: dict[str, Any]) -> Incoming | None:
    actions = body.get("actions") or []
    user = (body.get("user") or {}).get("id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if not actions or not user or not channel:
        return None
    value = actions[0].get("value")
    if value is None:
        return None
    trigger = body.get("trigger_id") or actions[0].get("action_ts")
    return Incoming(
        platform=PLATFORM,
        chat_id=str(channel),
        user_id=str(user),
        button=str(value),
        update_id=f"press:{trigger}" if trigger else None,
        chat_type=chat_type(None, str(channel)),
    )
