"""python-telegram-bot's update processor, made to keep each chat's updates in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.channels.ordering import ChatLines

UNLIMITED_WAITING = 2**31  # python-telegram-bot's own update semaphore: never the limit (see ChatOrderedProcessor)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Different chats concurrently, one chat strictly in arrival order.

    python-telegram-bot takes one of its concurrency slots *before* it calls `do_process_update`,
    so a chat's updates waiting for their turn there would hold slots: a chat that sends faster
    than it is answered could fill every slot and stall every other chat. Here that semaphore is
    given no effective limit and the real slots (`max_slots`) are taken only by the update at the
    head of its chat's line, for as long as it is processed. A chat's waiting updates cost a task
    each (they did before too) and no slot.

    `expect(update)` gives a future that completes once that update has been processed (the
    webhook answers Telegram only then).
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(UNLIMITED_WAITING)
        self.max_slots = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._lines = ChatLines()
        self._expected: dict[int, tuple[object, asyncio.Future[None]]] = {}

    def expect(self, update: object) -> asyncio.Future[None]:
        """A future resolved when `update` (this very object) has been processed, however it ended."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._expected[id(update)] = (update, future)  # holding `update` keeps its id() unique
        return future

    def forget(self, update: object) -> None:
        self._expected.pop(id(update), None)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        try:
            if chat is None:
                async with self._slots:
                    await coroutine
                return
            # First in line for this chat, then a slot shared with the other chats: only the head
            # of each chat's line ever holds one.
            async with self._lines.turn(chat.id), self._slots:
                await coroutine
        finally:
            expected = self._expected.pop(id(update), None)
            if expected is not None and not expected[1].done():
                expected[1].set_result(None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
