"""The Telegram adapter's outbox transport, on a real python-telegram-bot `Bot` pointed at the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.telegram import TelegramTransport
from tests.fakes.telegram_api import FakeTelegram


@asynccontextmanager
async def telegram_transport(fake: FakeTelegram, pool: int = 16) -> AsyncIterator[TelegramTransport]:
    """`pool` connections, so several sender lanes are not queued behind one another."""
    bot = Bot(fake.token, base_url=fake.base_url, request=HTTPXRequest(connection_pool_size=pool))
    async with bot:
        yield TelegramTransport(bot)
