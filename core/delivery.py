"""What the outbox sender needs from a platform adapter, without importing any platform library.

Adapters in `bot/` (Telegram, Slack, email, ...) implement `Transport`; the sender in
`scheduler/sender.py` decides retries and marks rows from the `SendOutcome` it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.messages import Button


class Delivery(StrEnum):
    sent = "sent"
    retry = "retry"  # rate limited (429), server error (5xx), network error: try again later
    unreachable = "unreachable"  # blocked the bot, user deactivated, chat not found: never retry
    failed = "failed"  # a permanent error that is not about the person (e.g. bad request)


@dataclass(frozen=True)
class SendOutcome:
    result: Delivery
    retry_after: float | None = None  # seconds the platform asked us to wait, when it said
    error: str = ""
    # A long message goes out in parts. When the platform took some parts and then refused one,
    # this is the text still to send: the retry carries on from there instead of repeating them.
    remaining_text: str | None = None


class Transport(Protocol):
    platform: str

    async def send(self, chat_id: str, text: str, buttons: list[list[Button]]) -> SendOutcome: ...
