"""One platform call, tried again while trying again can help: the one retry loop every channel uses.

Each platform's library reports trouble its own way (python-telegram-bot raises `RetryAfter`,
`Forbidden`, `NetworkError`; slack-sdk raises `SlackApiError` carrying a status and an error code),
so a channel hands in `classify`: its exception read as the outbox's own `SendOutcome`
(retry, with `retry_after` for a 429; unreachable; failed), or None for an error that is not the
platform's to judge. The loop then does the same thing everywhere: wait out a 429 for as long as
the platform says, back off on network and server errors, give up on an account that will never
be reached (`Unreachable`, so the caller can mark it), and raise anything else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.delivery import Delivery, SendOutcome

MAX_ATTEMPTS = 5
NETWORK_BACKOFF = (0.5, 1.0, 2.0, 4.0)

T = TypeVar("T")
Classify = Callable[[Exception], SendOutcome | None]


class Unreachable(Exception):
    """The platform will never deliver to this chat (blocked, deactivated, archived, not found)."""


class FloodGate:
    """A 429 that speaks for the whole bot: once one call is told to wait, every call sharing the gate waits.

    Without it, each call in hand would try once more, get its own 429 and wait on its own, so the
    bot kept knocking at the rate the platform had just refused. The outbox sender has its own
    pause (scheduler.sender.Pacer).
    """

    def __init__(self) -> None:
        self.open_at = 0.0  # time.monotonic() before which nothing is sent

    def close_for(self, seconds: float) -> None:
        self.open_at = max(self.open_at, time.monotonic() + seconds)

    async def wait(self) -> None:
        while (left := self.open_at - time.monotonic()) > 0:
            await asyncio.sleep(left)


def backoff(attempt: int) -> float:
    return NETWORK_BACKOFF[min(attempt, len(NETWORK_BACKOFF) - 1)]


async def call_with_retry(
    make: Callable[[], Awaitable[T]],
    *,
    classify: Classify,
    log: logging.Logger,
    what: str = "send",
    gate: FloodGate | None = None,
    max_wait: float | None = None,
    last_word_after_flood: bool = False,
) -> T:
    """Run one platform call, waiting out 429s and retrying network errors; raise Unreachable or the error.

    With a `gate`, the call first waits for any 429 pause another call was given, and a 429 it gets
    pauses every call that shares the gate. `max_wait` caps one 429's wait (someone is waiting for
    the answer); the last attempt's error is raised as it came. With `last_word_after_flood`, five
    429s in a row are waited out and followed by one more call (Telegram's flood control clears;
    a reply is worth the wait) rather than raised.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            if gate is not None:
                await gate.wait()
            return await make()
        except Exception as exc:
            outcome = classify(exc)
            if outcome is None or outcome.result is Delivery.failed:
                raise
            if outcome.result is Delivery.unreachable:
                raise Unreachable(outcome.error) from exc
            flood = outcome.retry_after is not None
            if attempt == MAX_ATTEMPTS - 1 and not (flood and last_word_after_flood):
                raise
            if outcome.retry_after is None:  # a network or server error: back off a little more each time
                wait = backoff(attempt)
                log.warning("%s on %s (%s): retrying in %.1fs", log.name, what, outcome.error, wait)
                await asyncio.sleep(wait)
                continue
            wait = outcome.retry_after if max_wait is None else min(max_wait, outcome.retry_after)
            log.warning("%s flood control on %s (%s): waiting %.1fs", log.name, what, outcome.error, wait)
            if gate is not None:
                gate.close_for(wait)  # the next attempt (and every other call) waits at the gate
            else:
                await asyncio.sleep(wait)
    # Only reached after a 429 on the last attempt with last_word_after_flood.
    if gate is not None:
        await gate.wait()
    return await make()
