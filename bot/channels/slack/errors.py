"""How slack-sdk reports trouble, read as the outbox's own outcomes; and the retry loop on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.channels.retry import call_with_retry as retry_loop
from core.delivery import Delivery, SendOutcome

log = logging.getLogger("waymark.slack")

MAX_WAIT = 60.0  # never sleep longer than this on one 429 while someone waits for an answer
# Slack will refuse every later message to this conversation too.
UNREACHABLE_ERRORS = frozenset(
    {"channel_not_found", "is_archived", "user_not_found", "account_inactive", "user_disabled", "not_in_channel"}
)
NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

T = TypeVar("T")


def outcome_for(error: SlackApiError) -> SendOutcome:
    """Map a Web API error to what the outbox sender should do next."""
    status = error.response.status_code
    code = str(error.response.get("error", "") or "") if isinstance(error.response.data, dict) else ""
    if status == 429 or code == "ratelimited":
        return SendOutcome(Delivery.retry, retry_after(error), code or "ratelimited")
    if code in UNREACHABLE_ERRORS:
        return SendOutcome(Delivery.unreachable, error=code)
    if status >= 500 or code in {"internal_error", "service_unavailable", "fatal_error", "request_timeout"}:
        return SendOutcome(Delivery.retry, error=code or f"HTTP {status}")
    return SendOutcome(Delivery.failed, error=code or f"HTTP {status}")


def retry_after(error: SlackApiError) -> float:
    raw = error.response.headers.get("Retry-After") or error.response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0


def classify(error: Exception) -> SendOutcome | None:
    """What a Web API or network error means for trying again; None for anything else."""
    if isinstance(error, SlackApiError):
        return outcome_for(error)
    if isinstance(error, NETWORK_ERRORS):
        return SendOutcome(Delivery.retry, error=f"network: {error}"[:200])
    return None


async def call_with_retry(make: Callable[[], Awaitable[T]], *, what: str) -> T:
    """One Web API call through the shared retry loop (bot.channels.retry), with Slack's reading of errors."""
    return await retry_loop(make, classify=classify, log=log, what=what, max_wait=MAX_WAIT)
