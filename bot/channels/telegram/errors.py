"""How python-telegram-bot reports trouble, read as the outbox's own outcomes; and the retry loop on it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.retry import FloodGate
from bot.channels.retry import call_with_retry as retry_loop
from core.delivery import Delivery, SendOutcome

log = logging.getLogger("waymark.telegram")

# Unrecoverable for a chat: Telegram will refuse every later message too.
UNREACHABLE_PHRASES = (
    "bot was blocked by the user",
    "user is deactivated",
    "bot can't initiate conversation",
    "chat not found",
    "bot was kicked",
    "not enough rights to send",
)

T = TypeVar("T")


def is_unreachable(error: TelegramError) -> bool:
    """403 blocked / deactivated / can't initiate, 400 chat not found: never worth retrying."""
    message = error.message.lower()
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(p in message for p in UNREACHABLE_PHRASES)


def retry_seconds(error: RetryAfter) -> float:
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def classify(error: Exception) -> SendOutcome | None:
    """What a Bot API error means for trying again; None for errors that are not Telegram's answer."""
    if isinstance(error, RetryAfter):
        return SendOutcome(Delivery.retry, retry_seconds(error), error.message)
    if isinstance(error, (BadRequest, Forbidden)):  # BadRequest is a NetworkError: asked first
        return SendOutcome(Delivery.unreachable if is_unreachable(error) else Delivery.failed, error=error.message)
    if isinstance(error, NetworkError):  # includes TimedOut and 5xx answers
        return SendOutcome(Delivery.retry, error=error.message)
    if isinstance(error, TelegramError):
        return SendOutcome(Delivery.failed, error=error.message)
    return None


async def call_with_retry(make: Callable[[], Awaitable[T]], *, what: str = "send", gate: FloodGate | None = None) -> T:
    """One Bot API call through the shared retry loop (bot.channels.retry), with Telegram's reading of errors."""
    return await retry_loop(make, classify=classify, log=log, what=what, gate=gate, last_word_after_flood=True)
