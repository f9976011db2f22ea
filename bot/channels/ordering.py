"""Per-chat ordering: one chat's messages strictly in arrival order, different chats at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class ChatLines:
    """One line per chat: `async with lines.turn(chat):` waits until every earlier arrival from that
    chat has had its turn (asyncio.Lock wakes its waiters in order).

    A chat nobody is waiting in is forgotten at once, so memory stays flat however many chats come.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._waiting: dict[Hashable, int] = {}

    @asynccontextmanager
    async def turn(self, chat: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat, asyncio.Lock())
        self._waiting[chat] = self._waiting.get(chat, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[chat] -= 1
            if not self._waiting[chat]:
                del self._waiting[chat], self._locks[chat]

    def __len__(self) -> int:
        return len(self._locks)
