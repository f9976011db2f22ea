"""What a pushed channel (Telegram, Slack) does the same way whatever the platform.

`ChannelWork` runs the dispatcher in the database threads (one on SQLite, a pool on PostgreSQL)
and marks accounts the platform will never reach; `answer_press` is the decision taken when a
button is pressed: show the answer in place of the question when it is that question updated
(ticking skills), else take the buttons off the question, note the choice under it and send the
answer below. The platform calls themselves stay in each channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.messages import Reply
from handlers import Dispatcher
from storage import identities
from storage.db import transaction
from storage.models import utcnow

DB_THREADS = 16  # PostgreSQL: below the engine's pool (10 + 20 overflow)
REASON_LIMIT = 200  # characters of an unreachable account's reason kept

T = TypeVar("T")


def database_threads(dispatcher: Dispatcher, wanted: int | None = None) -> int:
    """SQLite has one writer: threads queueing on its lock sleep in its busy handler (measured p99
    ~2 s at 32 chats), so one thread writes there; PostgreSQL gets as many as its pool allows."""
    if wanted is not None:
        return wanted
    return 1 if dispatcher.engine.dialect.name == "sqlite" else DB_THREADS


class ChannelWork:
    """The database side of a channel: its own threads, and what it records about accounts."""

    def __init__(self, dispatcher: Dispatcher, platform: str, db_threads: int | None = None) -> None:
        self.dispatcher = dispatcher
        self.platform = platform
        self._db = ThreadPoolExecutor(
            max_workers=database_threads(dispatcher, db_threads), thread_name_prefix=f"waymark-{platform}-db"
        )

    async def in_db_thread(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, func, *args)

    async def mark_unreachable(self, chat_id: str, reason: str) -> None:
        """Stop the outbox trying this account: the platform said it never will deliver there."""
        await self.in_db_thread(self._mark_unreachable, chat_id, reason)

    def _mark_unreachable(self, chat_id: str, reason: str) -> None:
        with transaction(self.dispatcher.engine) as session:
            identities.mark_unreachable(session, self.platform, chat_id, reason[:REASON_LIMIT], utcnow())

    def close(self) -> None:
        self._db.shutdown(wait=True)


def same_question(shown: frozenset[str], replies: list[Reply], encode: Callable[[str], str] = str) -> bool:
    """Whether the first reply is the pressed question again with its buttons updated: the same
    button data (as the platform carries it, `encode`) and nothing but text to show."""
    if not replies or not replies[0].buttons or replies[0].image or replies[0].file:
        return False
    return frozenset(encode(b.data) for row in replies[0].buttons for b in row) == shown


async def answer_press(
    shown: frozenset[str],
    replies: list[Reply],
    *,
    edit: Callable[[Reply], Awaitable[bool]],
    settle: Callable[[], Awaitable[None]],
    encode: Callable[[str], str] = str,
) -> list[Reply]:
    """Settle the pressed question; the replies still to send below it.

    `edit(reply)` shows a reply in place of the question (False when the platform could not);
    `settle()` takes the question's buttons off and notes the choice.
    """
    if same_question(shown, replies, encode) and await edit(replies[0]):
        return replies[1:]
    await settle()
    return replies
